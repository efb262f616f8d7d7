package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDocument(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	at := created("1764547200")
	if !at.Equal(time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("SOURCE_DATE_EPOCH 1764547200 read as %v", at)
	}
	doc, err := document(bin, at)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeJSON(&out, doc); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back["spdxVersion"] != "SPDX-2.3" {
		t.Fatalf("not an SPDX 2.3 JSON document: %v\n%s", err, out.String())
	}
	if doc.CreationInfo.Created != "2025-12-01T00:00:00Z" {
		t.Errorf("created %q", doc.CreationInfo.Created)
	}
	bin0 := doc.Packages[0]
	if len(bin0.Checksums) != 1 || bin0.Checksums[0].Value != sum || !strings.Contains(doc.DocumentNamespace, sum) {
		t.Errorf("the binary's package %+v does not carry its SHA-256 %s", bin0, sum)
	}
	var main bool
	for _, p := range doc.Packages[1:] {
		if p.Name == "github.com/otactl/otactl" {
			main = true
		}
		if len(p.ExternalRefs) != 1 || !strings.HasPrefix(p.ExternalRefs[0].Locator, "pkg:golang/"+p.Name+"@") {
			t.Errorf("module %s without its package URL: %+v", p.Name, p.ExternalRefs)
		}
	}
	if !main || len(doc.Relationships) != len(doc.Packages) {
		t.Errorf("main module listed %v; %d relationships for %d packages", main, len(doc.Relationships), len(doc.Packages))
	}
	if _, err := document(t.TempDir()+"/missing", at); err == nil {
		t.Error("a missing binary gave no error")
	}
}
