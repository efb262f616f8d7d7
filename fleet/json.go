package fleet

import (
	"encoding/json"
	"strconv"
	"time"
)

// MarshalJSON writes the row for scripts: device, package, status, seen,
// state and stateName, reason and reasonName, lastFailure and
// lastFailureName (when known, see Row.LastFailure), version, target (the
// resolved target), reportedTarget (the one the device named), cohort
// (when known), time and topic. An unseen row has no state, reason or
// time. The bytes are those encoding/json gives the same fields, strings
// escaped as json.Marshal escapes them (HTML characters too).
func (r Row) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil)
}

// AppendJSON appends the row's JSON (see MarshalJSON) to b, for writers
// that encode many rows without a buffer each.
func (r Row) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"device":`...)
	b = appendJSONString(b, r.Report.Device)
	b = append(b, `,"package":`...)
	b = appendJSONString(b, r.Report.Package)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, r.Status.String())
	b = append(b, `,"seen":`...)
	b = strconv.AppendBool(b, r.Seen)
	if r.Seen {
		b = append(b, `,"state":`...)
		b = strconv.AppendInt(b, int64(r.Report.State), 10)
		b = append(b, `,"stateName":`...)
		b = appendJSONString(b, r.Report.State.String())
		b = append(b, `,"reason":`...)
		b = strconv.AppendInt(b, int64(r.Report.Reason), 10)
		b = append(b, `,"reasonName":`...)
		b = appendJSONString(b, r.Report.Reason.String())
		if r.LastFailure != 0 {
			b = append(b, `,"lastFailure":`...)
			b = strconv.AppendInt(b, int64(r.LastFailure), 10)
			b = append(b, `,"lastFailureName":`...)
			b = appendJSONString(b, r.LastFailure.String())
		}
	}
	b = append(b, `,"version":`...)
	b = appendJSONString(b, r.Report.Version)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, r.Target)
	b = append(b, `,"reportedTarget":`...)
	b = appendJSONString(b, r.Report.Target)
	if r.Cohort != "" {
		b = append(b, `,"cohort":`...)
		b = appendJSONString(b, r.Cohort)
	}
	if t := r.Report.Received.UTC(); r.Seen && !t.IsZero() {
		b = append(b, `,"time":`...)
		var err error
		if b, err = appendJSONTime(b, t); err != nil {
			return nil, err
		}
	}
	if r.Report.Topic != "" {
		b = append(b, `,"topic":`...)
		b = appendJSONString(b, r.Report.Topic)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as json.Marshal writes a string. Text with
// nothing to escape, which is all text but device-made oddities, is
// copied; anything else goes through json.Marshal itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as every JSON document prints a time: RFC 3339
// in UTC, to the second (docs/json.md); years outside 0 to 9999 are an
// error, as its MarshalJSON's.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC().Truncate(time.Second)
	if y := t.Year(); y < 0 || y > 9999 {
		q, err := json.Marshal(t)
		return append(b, q...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339)
	return append(b, '"'), nil
}
