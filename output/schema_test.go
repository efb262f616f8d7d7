package output

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

const (
	docPath  = "../docs/json.md"
	docBegin = "<!-- schemas: generated from output/schemas.go by 'go test ./output -run TestSchemaDocIsCurrent -update' -->\n"
	docEnd   = "<!-- end of schemas -->\n"
)

// TestSchemaDocIsCurrent: docs/json.md's reference is SchemaDoc, so the
// doc and the schemas the tests check output against cannot drift.
func TestSchemaDocIsCurrent(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: no generated section between %q and %q", docPath, docBegin, docEnd)
	}
	want := doc[:i] + docBegin + "\n" + SchemaDoc() + docEnd + doc[j+len(docEnd):]
	if doc == want {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not current: run go test ./output -run TestSchemaDocIsCurrent -update", docPath)
}

// TestSchemasWellFormed: every schema has a unique name and commands,
// every shared type named exists, and arrays and maps say what they hold.
func TestSchemasWellFormed(t *testing.T) {
	seen := map[string]bool{}
	var walk func(where string, fs []Prop)
	walk = func(where string, fs []Prop) {
		for _, f := range fs {
			switch {
			case f.Ref != "":
				if _, ok := Types[f.Ref]; !ok {
					t.Errorf("%s.%s: no type %q", where, f.Name, f.Ref)
				}
			case f.Kind == KindArray || f.Kind == KindMap:
				if f.Elem == nil {
					t.Errorf("%s.%s: %s of nothing", where, f.Name, f.Kind)
				} else {
					walk(where+"."+f.Name+"[]", []Prop{*f.Elem})
				}
			case f.Kind == KindObject:
				walk(where+"."+f.Name, f.Fields)
			}
		}
	}
	for _, s := range Schemas {
		if seen[s.Name] || len(s.Commands) == 0 || s.Doc == "" {
			t.Errorf("schema %q: repeated, or without commands or doc", s.Name)
		}
		seen[s.Name] = true
		walk(s.Name, s.Fields)
	}
	for name, ty := range Types {
		walk(name, ty.Fields)
	}
}

// TestCheck: a document passes only with every required key, no key the
// schema lacks, and values of their kind; times to the second, in UTC.
func TestCheck(t *testing.T) {
	var b bytes.Buffer
	good := map[string]any{"version": "1", "commit": "c", "date": "d", "modified": false, "go": "go1", "os": "linux", "arch": "amd64"}
	if err := Document(&b, "version", good); err != nil {
		t.Fatal(err)
	}
	if s, err := Check(b.Bytes()); err != nil || s.Name != "version" {
		t.Fatalf("good document: %v, %v", s.Name, err)
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"no schema", `{"version":"1"}`, "unknown schema"},
		{"other schema", `{"schema":"otactl/nothing/v1"}`, "unknown schema"},
		{"not an object", `[1]`, "not a JSON object"},
		{"missing", `{"schema":"otactl/version/v1","version":"1","commit":"c","date":"d","modified":false,"go":"g","os":"o"}`, ".arch: missing"},
		{"extra", `{"schema":"otactl/version/v1","version":"1","commit":"c","date":"d","modified":false,"go":"g","os":"o","arch":"a","more":1}`, ".more: not in the schema"},
		{"kind", `{"schema":"otactl/version/v1","version":1,"commit":"c","date":"d","modified":false,"go":"g","os":"o","arch":"a"}`, "is not a string"},
		{"nested extra", `{"schema":"otactl/release-show/v1","manifest":{"sequenceNumber":1,"hash":"h","components":[{"package":"p","version":"v","hash":"h","size":1,"uri":"u","sha256":"x"}]}}`, "components[0].sha256: not in the schema"},
		{"integer", `{"schema":"otactl/release-digest/v1","sequenceNumber":1.5,"digest":"d","base64":"b"}`, "is not an integer"},
		{"time with fraction", `{"schema":"otactl/rollout-wait/v1","outcome":"done","done":true,"failed":false,"tooManyFailed":false,"unreachable":false,"version":"1","package":"main","total":0,"updated":0,"need":0,"failedCount":0,"allowedFailures":0,"pendingCount":0,"notSeen":0,"notKnown":0,"failures":[],"pending":[],"time":"2026-01-01T00:00:00.5Z"}`, "is not a time"},
		{"time not UTC", `{"schema":"otactl/rollout-wait/v1","outcome":"done","done":true,"failed":false,"tooManyFailed":false,"unreachable":false,"version":"1","package":"main","total":0,"updated":0,"need":0,"failedCount":0,"allowedFailures":0,"pendingCount":0,"notSeen":0,"notKnown":0,"failures":[],"pending":[],"time":"2026-01-01T01:00:00+01:00"}`, "is not a time"},
		{"null", `{"schema":"otactl/release-show/v1","manifest":null}`, "null, want object"},
	} {
		if _, err := Check([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestDocumentAndTime: Document puts "schema" first in one line; Time
// is UTC to the second.
func TestDocumentAndTime(t *testing.T) {
	var b bytes.Buffer
	if err := Document(&b, "x", struct {
		A int `json:"a"`
	}{1}); err != nil || b.String() != `{"schema":"otactl/x/v1","a":1}`+"\n" {
		t.Errorf("Document = %q, %v", b.String(), err)
	}
	b.Reset()
	if err := Document(&b, "x", struct{}{}); err != nil || b.String() != `{"schema":"otactl/x/v1"}`+"\n" {
		t.Errorf("empty Document = %q, %v", b.String(), err)
	}
	if err := Document(&b, "x", []int{1}); err == nil {
		t.Error("Document of an array: no error")
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 999_000_000, time.FixedZone("X", 3600))
	if got := Time(at); !got.Equal(time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("Time = %v", got)
	}
	if !Time(time.Time{}).IsZero() {
		t.Error("Time of the zero time is not zero")
	}
}
