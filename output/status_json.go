package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/otactl/otactl/fleet"
)

// Field is one more key of an object written as a stream.
type Field struct {
	Key   string
	Value any
}

// WriteStatusJSON writes st as one line of JSON, the document of schema
// that Document(w, schema, st) writes with the times to the second and
// no list or map null (docs/json.md), with
// the rows encoded and written as they go instead of held and compacted
// again, and each extra field after them. An error while writing the rows
// leaves the line cut short.
func WriteStatusJSON(w io.Writer, schema string, st fleet.StatusReport, extra ...Field) error {
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetEscapeHTML(false)
	head.WriteString(`{"schema":`)
	if err := enc.Encode(SchemaID(schema)); err != nil {
		return err
	}
	head.Truncate(head.Len() - 1)
	head.WriteString(`,"time":`)
	if err := enc.Encode(Time(st.Time)); err != nil {
		return err
	}
	head.Truncate(head.Len() - 1) // Encode's newline
	head.WriteString(`,"summary":`)
	sum := st.Summary
	sum.RecentMalformed = make([]fleet.MalformedReport, len(st.Summary.RecentMalformed))
	for i, m := range st.Summary.RecentMalformed {
		m.Time = Time(m.Time)
		sum.RecentMalformed[i] = m
	}
	if sum.Failures == nil {
		sum.Failures = []fleet.ReasonCount{}
	}
	if sum.States == nil {
		sum.States = map[string]int{}
	}
	if err := enc.Encode(sum); err != nil {
		return err
	}
	head.Truncate(head.Len() - 1)
	head.WriteString(`,"devices":`)

	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head.Bytes())
	var row []byte
	var err error
	for i, r := range st.NotDone {
		row = row[:0]
		if i == 0 {
			row = append(row, '[')
		} else {
			row = append(row, ',')
		}
		if row, err = r.AppendJSON(row); err != nil {
			return err
		}
		bw.Write(row)
	}
	if len(st.NotDone) == 0 {
		bw.WriteByte('[')
	}
	bw.WriteByte(']')
	for _, f := range extra {
		k, err := json.Marshal(f.Key)
		if err != nil {
			return err
		}
		v, err := json.Marshal(f.Value)
		if err != nil {
			return err
		}
		bw.WriteByte(',')
		bw.Write(k)
		bw.WriteByte(':')
		bw.Write(v)
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
