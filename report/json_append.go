package report

import (
	"encoding/json"
	"strconv"
	"time"
)

// AppendJSON appends to b the bytes MarshalJSON gives r, without
// encoding/json's reflection: for writers of many reports (watch --once
// -o json over a million of them). The times are written as they are: a
// caller that prints times to the second truncates Received first.
func (r Report) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"device":`...)
	b = AppendJSONString(b, r.Device)
	b = append(b, `,"package":`...)
	b = AppendJSONString(b, r.Package)
	b = append(b, `,"state":`...)
	b = strconv.AppendInt(b, int64(r.State), 10)
	b = append(b, `,"stateName":`...)
	b = AppendJSONString(b, r.State.String())
	b = append(b, `,"reason":`...)
	b = strconv.AppendInt(b, int64(r.Reason), 10)
	b = append(b, `,"reasonName":`...)
	b = AppendJSONString(b, r.Reason.String())
	b = append(b, `,"version":`...)
	b = AppendJSONString(b, r.Version)
	b = append(b, `,"target":`...)
	b = AppendJSONString(b, r.Target)
	if t := r.Received.UTC(); !t.IsZero() {
		b = append(b, `,"time":`...)
		var err error
		if b, err = AppendJSONTime(b, t); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"topic":`...)
	b = AppendJSONString(b, r.Topic)
	return append(b, '}'), nil
}

// AppendJSONString appends s as json.Marshal writes a string. Text with
// nothing to escape, which is all text but device-made oddities, is
// copied; anything else goes through json.Marshal itself.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSONTime appends t as json.Marshal writes a time (RFC 3339 with
// the fraction it has, in t's zone); years outside 0 to 9999 are an
// error, as its MarshalJSON's.
func AppendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		q, err := json.Marshal(t)
		return append(b, q...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// plainJSON holds the bytes json.Marshal copies into a string as they
// are: printable ASCII but for '"', '\' and the HTML-escaped '<', '>', '&'.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()
