package output

import (
	"encoding/json"
	"io"
)

// JSON writes v as one line of JSON followed by a newline.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
