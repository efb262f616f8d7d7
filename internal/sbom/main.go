// Command sbom writes an SPDX 2.3 software bill of materials, in JSON,
// for a Go binary: the main module and every module linked into it, as
// the binary's own build information records them (debug/buildinfo), each
// with its version and package URL. The document's time is
// SOURCE_DATE_EPOCH when set, so that a release build stays reproducible.
//
//	go run ./internal/sbom BINARY [OUTPUT]
//
// OUTPUT defaults to standard output.
// The release build (.goreleaser.yaml, scripts/release) runs it for every
// binary it ships.
package main

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/regularfile"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: sbom BINARY [OUTPUT]")
		os.Exit(2)
	}
	doc, err := document(os.Args[1], created(os.Getenv("SOURCE_DATE_EPOCH")))
	if err == nil && len(os.Args) == 3 {
		var b bytes.Buffer
		if err = writeJSON(&b, doc); err == nil {
			err = regularfile.Write(os.Args[2], b.Bytes(), regularfile.Options{})
		}
	} else if err == nil {
		err = writeJSON(os.Stdout, doc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom: "+err.Error())
		os.Exit(1)
	}
}

// created is the document's time: SOURCE_DATE_EPOCH (seconds), else now.
func created(epoch string) time.Time {
	if s, err := strconv.ParseInt(epoch, 10, 64); err == nil {
		return time.Unix(s, 0).UTC()
	}
	return time.Now().UTC()
}

type spdxDoc struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      creationInfo   `json:"creationInfo"`
	Packages          []spdxPackage  `json:"packages"`
	Relationships     []relationship `json:"relationships"`
}

type creationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string        `json:"SPDXID"`
	Name             string        `json:"name"`
	VersionInfo      string        `json:"versionInfo"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	Checksums        []checksum    `json:"checksums,omitempty"`
	ExternalRefs     []externalRef `json:"externalRefs,omitempty"`
	Comment          string        `json:"comment,omitempty"`
}

type checksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type externalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// document is the SBOM of the binary at path.
func document(path string, at time.Time) (*spdxDoc, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	doc := &spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              name,
		DocumentNamespace: "https://spdx.org/spdxdocs/" + name + "-" + sum,
		CreationInfo:      creationInfo{Created: at.Format(time.RFC3339), Creators: []string{"Tool: otactl-sbom", "Tool: " + info.GoVersion}},
	}
	binID := "SPDXRef-Binary"
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: binID, Name: name, VersionInfo: moduleVersion(info.Main.Version),
		DownloadLocation: "NOASSERTION", Checksums: []checksum{{"SHA256", sum}},
		Comment: "built with " + info.GoVersion + settings(info),
	})
	doc.Relationships = append(doc.Relationships, relationship{"SPDXRef-DOCUMENT", "DESCRIBES", binID})
	mods := append([]*module{{Path: info.Main.Path, Version: info.Main.Version, Sum: info.Main.Sum}}, modules(info)...)
	for i, m := range mods {
		if m.Path == "" {
			continue
		}
		id := fmt.Sprintf("SPDXRef-Module-%d", i)
		p := spdxPackage{
			SPDXID: id, Name: m.Path, VersionInfo: moduleVersion(m.Version),
			DownloadLocation: "NOASSERTION",
			ExternalRefs: []externalRef{{"PACKAGE-MANAGER", "purl",
				"pkg:golang/" + m.Path + "@" + moduleVersion(m.Version)}},
		}
		if m.Sum != "" {
			p.Comment = "go.sum " + m.Sum
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, relationship{binID, "CONTAINS", id})
	}
	return doc, nil
}

// module is a module as the build information names it, after any
// replacement.
type module struct{ Path, Version, Sum string }

func modules(info *buildinfo.BuildInfo) []*module {
	var out []*module
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		out = append(out, &module{Path: d.Path, Version: d.Version, Sum: d.Sum})
	}
	return out
}

func moduleVersion(v string) string {
	if v == "" || v == "(devel)" {
		return "NOASSERTION"
	}
	return v
}

// settings are the build settings that say how the binary was built.
func settings(info *buildinfo.BuildInfo) string {
	var kept []string
	for _, s := range info.Settings {
		switch s.Key {
		case "CGO_ENABLED", "GOOS", "GOARCH", "-trimpath", "-ldflags", "vcs.revision", "vcs.time":
			kept = append(kept, s.Key+"="+s.Value)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	return "; " + strings.Join(kept, " ")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
