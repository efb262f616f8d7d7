package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// SchemaPrefix and SchemaVersion make a document's schema id:
// "otactl/<name>/v1" (docs/json.md).
const (
	SchemaPrefix  = "otactl/"
	SchemaVersion = "/v1"
)

// SchemaID is the id of the schema called name: "otactl/<name>/v1".
func SchemaID(name string) string { return SchemaPrefix + name + SchemaVersion }

// JSON writes v as one line of JSON followed by a newline.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Document writes v, which must encode as a JSON object, as one line of
// JSON with "schema": SchemaID(schema) as its first key: the form of
// every JSON document otactl prints (docs/json.md).
func Document(w io.Writer, schema string, v any) error {
	var body bytes.Buffer
	if err := JSON(&body, v); err != nil {
		return err
	}
	b := bytes.TrimSpace(body.Bytes())
	if len(b) < 2 || b[0] != '{' {
		return fmt.Errorf("json document %s: not an object", schema)
	}
	var out bytes.Buffer
	out.Grow(len(b) + 32)
	out.WriteString(`{"schema":`)
	id, _ := json.Marshal(SchemaID(schema)) // a string always marshals
	out.Write(id)
	if rest := b[1:]; !bytes.Equal(rest, []byte("}")) {
		out.WriteByte(',')
		out.Write(rest)
	} else {
		out.WriteByte('}')
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// Time is t as every JSON document prints a time: RFC 3339 in UTC, to
// the second; the zero time stays zero.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}
