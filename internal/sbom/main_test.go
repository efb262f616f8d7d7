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
	// Read back as any SPDX reader would.
	var back struct {
		SPDXVersion, DocumentNamespace string
		CreationInfo                   struct{ Created string }
		Packages                       []struct {
			Name         string
			Checksums    []struct{ ChecksumValue string }
			ExternalRefs []struct{ ReferenceLocator string }
		}
		Relationships []struct{ RelationshipType string }
	}
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.SPDXVersion != "SPDX-2.3" || back.CreationInfo.Created != "2025-12-01T00:00:00Z" {
		t.Fatalf("not the SPDX 2.3 document wanted: %v\n%s", err, out.String())
	}
	if bin := back.Packages[0]; len(bin.Checksums) != 1 || bin.Checksums[0].ChecksumValue != sum || !strings.Contains(back.DocumentNamespace, sum) {
		t.Errorf("the binary's package %+v does not carry its SHA-256 %s", bin, sum)
	}
	var main bool
	for _, p := range back.Packages[1:] {
		main = main || p.Name == "github.com/otactl/otactl"
		if len(p.ExternalRefs) != 1 || !strings.HasPrefix(p.ExternalRefs[0].ReferenceLocator, "pkg:golang/"+p.Name+"@") {
			t.Errorf("module %s without its package URL: %+v", p.Name, p.ExternalRefs)
		}
	}
	if !main || len(back.Relationships) != len(back.Packages) {
		t.Errorf("main module listed %v; %d relationships for %d packages", main, len(back.Relationships), len(back.Packages))
	}
	if _, err := document(t.TempDir()+"/missing", at); err == nil {
		t.Error("a missing binary gave no error")
	}
}
