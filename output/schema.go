package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Kind is the JSON type of a field of a document.
type Kind string

// The kinds of field. A Time is a string: RFC 3339 in UTC, to the second.
// A Map is an object whose keys are data (profile names, state names),
// each value an Elem.
const (
	KindString  Kind = "string"
	KindInteger Kind = "integer"
	KindNumber  Kind = "number"
	KindBool    Kind = "boolean"
	KindTime    Kind = "time"
	KindObject  Kind = "object"
	KindArray   Kind = "array"
	KindMap     Kind = "map"
)

// Prop is one key (property) of a JSON object that otactl prints: its name, kind
// and meaning. An object's keys are Fields, or those of the shared type
// Ref; an array's or a map's values are Elem.
type Prop struct {
	Name     string
	Kind     Kind
	Doc      string
	Optional bool // may be left out
	Nullable bool // may be null
	Fields   []Prop
	Elem     *Prop
	Ref      string // a shared type (Types) instead of Fields
}

// Schema is the form of one kind of JSON document (docs/json.md): the
// object that a command prints with -o json, "schema" first, whose value
// is SchemaID(Name).
type Schema struct {
	Name     string
	Doc      string
	Commands []string // the commands that print it: "release verify"
	Stream   bool     // printed as one document per line, many
	Fields   []Prop
}

// ID is the schema's id, the value of its documents' "schema" key.
func (s Schema) ID() string { return SchemaID(s.Name) }

// Lookup is the schema whose id is id.
func Lookup(id string) (Schema, bool) {
	i := slices.IndexFunc(Schemas, func(s Schema) bool { return s.ID() == id })
	if i < 0 {
		return Schema{}, false
	}
	return Schemas[i], true
}

// ForCommand lists the schemas a command ("rollout start") prints.
func ForCommand(command string) []Schema {
	var out []Schema
	for _, s := range Schemas {
		if slices.Contains(s.Commands, command) {
			out = append(out, s)
		}
	}
	return out
}

// Check checks one document, a line of JSON, against the schema its
// "schema" key names: every required key present, no key the schema
// lacks, every value of its kind. It returns the schema.
func Check(doc []byte) (Schema, error) {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return Schema{}, fmt.Errorf("not a JSON object: %w", err)
	}
	id, _ := v["schema"].(string)
	s, ok := Lookup(id)
	if !ok {
		return Schema{}, fmt.Errorf("unknown schema %q", v["schema"])
	}
	delete(v, "schema")
	return s, checkObject(id, s.Fields, v)
}

func checkObject(path string, fields []Prop, v map[string]any) error {
	var errs []string
	for _, f := range fields {
		fv, ok := v[f.Name]
		if !ok {
			if !f.Optional {
				errs = append(errs, fmt.Sprintf("%s.%s: missing", path, f.Name))
			}
			continue
		}
		if err := checkValue(path+"."+f.Name, f, fv); err != nil {
			errs = append(errs, err.Error())
		}
	}
	var extra []string
	for k := range v {
		if !slices.ContainsFunc(fields, func(f Prop) bool { return f.Name == k }) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		errs = append(errs, fmt.Sprintf("%s.%s: not in the schema", path, k))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// timeRE is a time as documents print it.
var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func checkValue(path string, f Prop, v any) error {
	if v == nil {
		if f.Nullable {
			return nil
		}
		return fmt.Errorf("%s: null, want %s", path, f.Kind)
	}
	bad := func(want string) error { return fmt.Errorf("%s: %v is not %s", path, v, want) }
	switch f.Kind {
	case KindString:
		if _, ok := v.(string); !ok {
			return bad("a string")
		}
	case KindTime:
		if s, ok := v.(string); !ok || !timeRE.MatchString(s) {
			return bad("a time (RFC 3339, UTC, to the second)")
		}
	case KindBool:
		if _, ok := v.(bool); !ok {
			return bad("a boolean")
		}
	case KindInteger:
		if n, ok := v.(json.Number); !ok || strings.ContainsAny(n.String(), ".eE") {
			return bad("an integer")
		}
	case KindNumber:
		if _, ok := v.(json.Number); !ok {
			return bad("a number")
		}
	case KindObject:
		o, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		return checkObject(path, f.fields(), o)
	case KindArray:
		a, ok := v.([]any)
		if !ok {
			return bad("an array")
		}
		for i, e := range a {
			if err := checkValue(fmt.Sprintf("%s[%d]", path, i), *f.Elem, e); err != nil {
				return err
			}
		}
	case KindMap:
		o, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		for k, e := range o {
			if err := checkValue(path+"."+k, *f.Elem, e); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: schema kind %q unknown", path, f.Kind)
	}
	return nil
}

// fields are an object field's keys: its own, or its shared type's.
func (f Prop) fields() []Prop {
	if f.Ref != "" {
		return Types[f.Ref].Fields
	}
	return f.Fields
}

// SchemaDoc is the reference part of docs/json.md: a section for each
// schema, then one for each shared type, each a table of its fields.
func SchemaDoc() string {
	var b strings.Builder
	for _, s := range Schemas {
		fmt.Fprintf(&b, "### %s\n\n", s.Name)
		cmds := make([]string, len(s.Commands))
		for i, c := range s.Commands {
			cmds[i] = "`otactl " + c + " -o json`"
		}
		how := "one document"
		if s.Stream {
			how = "a stream: one document per line"
		}
		fmt.Fprintf(&b, "`\"schema\": %q`, printed by %s, %s. %s\n\n", s.ID(), strings.Join(cmds, ", "), how, s.Doc)
		writeFieldTable(&b, s.Fields)
	}
	b.WriteString("### Shared types\n\n")
	for _, name := range typeNames() {
		t := Types[name]
		fmt.Fprintf(&b, "#### %s\n\n%s\n\n", name, t.Doc)
		writeFieldTable(&b, t.Fields)
	}
	return b.String()
}

func typeNames() []string { return slices.Sorted(maps.Keys(Types)) }

func writeFieldTable(b *strings.Builder, fields []Prop) {
	b.WriteString("| field | type | meaning |\n|---|---|---|\n")
	var rows func(prefix string, fs []Prop)
	rows = func(prefix string, fs []Prop) {
		for _, f := range fs {
			name := prefix + f.Name
			fmt.Fprintf(b, "| `%s` | %s | %s |\n", name, typeText(f), f.Doc)
			switch {
			case f.Kind == KindObject && f.Ref == "":
				rows(name+".", f.Fields)
			case f.Kind == KindArray && f.Elem.Kind == KindObject && f.Elem.Ref == "":
				rows(name+"[].", f.Elem.Fields)
			case f.Kind == KindMap && f.Elem.Kind == KindObject && f.Elem.Ref == "":
				rows(name+".*.", f.Elem.Fields)
			}
		}
	}
	rows("", fields)
	b.WriteString("\n")
}

func typeText(f Prop) string {
	var s string
	switch {
	case f.Ref != "":
		s = "[" + f.Ref + "](#" + f.Ref + ")"
	case f.Kind == KindArray:
		s = "array of " + typeText(*f.Elem)
	case f.Kind == KindMap:
		s = "object of " + typeText(*f.Elem)
	default:
		s = string(f.Kind)
	}
	if f.Nullable {
		s += " or null"
	}
	if f.Optional {
		s += ", optional"
	}
	return s
}
