package fleet

import (
	"strconv"
	"time"

	"github.com/otactl/otactl/report"
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
	b = report.AppendJSONString(b, r.Report.Device)
	b = append(b, `,"package":`...)
	b = report.AppendJSONString(b, r.Report.Package)
	b = append(b, `,"status":`...)
	b = report.AppendJSONString(b, r.Status.String())
	b = append(b, `,"seen":`...)
	b = strconv.AppendBool(b, r.Seen)
	if r.Seen {
		b = append(b, `,"state":`...)
		b = strconv.AppendInt(b, int64(r.Report.State), 10)
		b = append(b, `,"stateName":`...)
		b = report.AppendJSONString(b, r.Report.State.String())
		b = append(b, `,"reason":`...)
		b = strconv.AppendInt(b, int64(r.Report.Reason), 10)
		b = append(b, `,"reasonName":`...)
		b = report.AppendJSONString(b, r.Report.Reason.String())
		if r.LastFailure != 0 {
			b = append(b, `,"lastFailure":`...)
			b = strconv.AppendInt(b, int64(r.LastFailure), 10)
			b = append(b, `,"lastFailureName":`...)
			b = report.AppendJSONString(b, r.LastFailure.String())
		}
	}
	b = append(b, `,"version":`...)
	b = report.AppendJSONString(b, r.Report.Version)
	b = append(b, `,"target":`...)
	b = report.AppendJSONString(b, r.Target)
	b = append(b, `,"reportedTarget":`...)
	b = report.AppendJSONString(b, r.Report.Target)
	if r.Cohort != "" {
		b = append(b, `,"cohort":`...)
		b = report.AppendJSONString(b, r.Cohort)
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
		b = report.AppendJSONString(b, r.Report.Topic)
	}
	return append(b, '}'), nil
}

// appendJSONTime appends t as every JSON document prints a time: RFC 3339
// in UTC, to the second (docs/json.md); years outside 0 to 9999 are an
// error, as its MarshalJSON's.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	return report.AppendJSONTime(b, t.UTC().Truncate(time.Second))
}
