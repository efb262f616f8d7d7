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
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/release"
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

// obj is a JSON object of the SPDX 2.3 document.
type obj = map[string]any

// document is the SBOM of the binary at path: a document that describes
// the binary, which contains every module linked into it.
func document(path string, at time.Time) (obj, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	binID := "SPDXRef-Binary"
	packages := []obj{{
		"SPDXID": binID, "name": name, "versionInfo": moduleVersion(info.Main.Version),
		"downloadLocation": "NOASSERTION", "filesAnalyzed": false,
		"checksums": []obj{{"algorithm": "SHA256", "checksumValue": sum}},
		"comment":   "built with " + info.GoVersion + settings(info),
	}}
	relationships := []obj{{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": binID}}
	for i, m := range append([]*module{{Path: info.Main.Path, Version: info.Main.Version, Sum: info.Main.Sum}}, modules(info)...) {
		if m.Path == "" {
			continue
		}
		id := fmt.Sprintf("SPDXRef-Module-%d", i)
		p := obj{
			"SPDXID": id, "name": m.Path, "versionInfo": moduleVersion(m.Version),
			"downloadLocation": "NOASSERTION", "filesAnalyzed": false,
			"externalRefs": []obj{{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
				"referenceLocator": "pkg:golang/" + m.Path + "@" + moduleVersion(m.Version)}},
		}
		if m.Sum != "" {
			p["comment"] = "go.sum " + m.Sum
		}
		packages = append(packages, p)
		relationships = append(relationships, obj{"spdxElementId": binID, "relationshipType": "CONTAINS", "relatedSpdxElement": id})
	}
	return obj{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": name, "documentNamespace": "https://spdx.org/spdxdocs/" + name + "-" + sum,
		"creationInfo":  obj{"created": at.Format(time.RFC3339), "creators": []string{"Tool: otactl-sbom", "Tool: " + info.GoVersion}},
		"packages":      packages,
		"relationships": relationships,
	}, nil
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
	sum, _, err := release.HashFile(context.Background(), path)
	return sum, err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
