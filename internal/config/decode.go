package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// positions maps a field path as written in the file ("sources[1].secrets[0]")
// to the node it was read from, so that every error can name its line.
type positions map[string]*yaml.Node

// line returns "line N: " for path, or for the nearest enclosing field the
// file holds when it lacks path itself (a key left out), or "" when the
// value is not from the file at all.
func (p positions) line(path string) string {
	for path != "" {
		if n := p[path]; n != nil {
			return fmt.Sprintf("line %d: ", n.Line)
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return ""
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// check walks the document against the type it decodes into, before it is
// decoded, and reports every unknown key and every value of the wrong kind
// at its own line, with the field path and what is allowed. It records each
// field's node in pos. Decoding a document that passes cannot fail.
func check(n *yaml.Node, t reflect.Type, path string, pos positions) []error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	pos[path] = n
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // an empty value leaves the default
	}
	bad := func(format string, args ...any) []error {
		return []error{fmt.Errorf("line %d: %s: %s", n.Line, path, fmt.Sprintf(format, args...))}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem() // an optional value: model: false
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// A type that reads itself (config.Age) says what is wrong.
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return bad("%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("line %d: ", n.Line)))
		}
		return nil
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			return bad("want a duration such as 700ms, 30s or 2m")
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			if _, numErr := strconv.ParseFloat(n.Value, 64); numErr == nil {
				return bad("%s has no unit: add one, e.g. %sms (units: ns, us, ms, s, m, h)", n.Value, n.Value)
			}
			return bad("%q is not a duration: want a number and a unit such as 700ms, 30s or 2m", n.Value)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad("want a mapping of %s", strings.Join(keys(t), ", "))
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := field(t, k.Value)
			if !ok {
				errs = append(errs, fmt.Errorf("line %d: %s: unknown key; %s takes %s",
					k.Line, join(path, k.Value), cmpOr(path, "the top level"), strings.Join(keys(t), ", ")))
				continue
			}
			errs = append(errs, check(v, f.Type, join(path, k.Value), pos)...)
		}
		return errs
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("want a list, e.g. [a, b] or one \"- item\" per line")
		}
		var errs []error
		for i, item := range n.Content {
			errs = append(errs, check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), pos)...)
		}
		return errs
	}
	if n.Kind != yaml.ScalarNode {
		return bad("want a single value, not a list or a mapping")
	}
	var err error
	switch t.Kind() {
	case reflect.String:
		return nil
	case reflect.Bool:
		var b bool
		if err = n.Decode(&b); err != nil {
			return bad("%q is not true or false", n.Value)
		}
	case reflect.Int, reflect.Int64:
		var i int64
		if err = n.Decode(&i); err != nil {
			return bad("%q is not a whole number", n.Value)
		}
	default:
		return bad("unsupported type %s", t)
	}
	return nil
}

// field finds the struct field whose yaml name is key.
func field(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range fields(t) {
		if yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keys lists the yaml names of t's fields, in order.
func keys(t reflect.Type) []string {
	var names []string
	for f := range fields(t) {
		names = append(names, yamlName(f))
	}
	return names
}

func fields(t reflect.Type) func(func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.IsExported() && yamlName(f) != "-" && !yield(f) {
				return
			}
		}
	}
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return cmpOr(name, strings.ToLower(f.Name))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// decode checks doc against Config (see check), then decodes it.
func decode(doc *yaml.Node, cfg *Config, pos positions) error {
	if len(doc.Content) == 0 {
		return nil
	}
	if errs := check(doc.Content[0], reflect.TypeFor[Config](), "", pos); len(errs) > 0 {
		return errors.Join(errs...)
	}
	return doc.Content[0].Decode(cfg)
}

// SkippedSource is a source left out because the variables its secrets
// come from are not set, so that a deployment enables a source by setting
// its secret.
type SkippedSource struct {
	Name      string   // the source's name
	Variables []string // the unset variables its secrets reference
}

// skipUnset removes from the sources list every source whose secrets
// reference only variables without a default that lookup does not know,
// and returns them, and the index in the file of each source kept. It runs
// before expansion, so a left-out source's other variables need not be set
// either.
func skipUnset(doc *yaml.Node, lookup func(string) (string, bool)) (skipped []SkippedSource, kept []int) {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	root := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "sources" && root.Content[i+1].Kind == yaml.SequenceNode {
			list = root.Content[i+1]
		}
	}
	if list == nil {
		return nil, nil
	}
	i := -1
	list.Content = slices.DeleteFunc(list.Content, func(src *yaml.Node) bool {
		i++
		if !leaveOut(src, lookup, &skipped) {
			kept = append(kept, i)
			return false
		}
		return true
	})
	return skipped, kept
}

// leaveOut reports whether source node src is to be left out, and adds it
// to skipped if so.
func leaveOut(src *yaml.Node, lookup func(string) (string, bool), skipped *[]SkippedSource) bool {
	name, secrets := mapValue(src, "name"), mapValue(src, "secrets")
	if secrets == nil {
		return false
	}
	var unset []string
	for _, ref := range scalarRefs(secrets) {
		if !ref.Required {
			return false
		}
		if _, ok := lookup(ref.Name); ok {
			return false
		}
		unset = append(unset, ref.Name)
	}
	if len(unset) == 0 {
		return false
	}
	s := SkippedSource{Variables: unset}
	if name != nil {
		s.Name = name.Value
	}
	*skipped = append(*skipped, s)
	return true
}

var sourceIndex = regexp.MustCompile(`\bsources\[(\d+)\]`)

// renumber rewrites the sources[i] of err's paths, which count the sources
// kept, into the indices the file gives them.
func renumber(err error, kept []int) error {
	msg := sourceIndex.ReplaceAllStringFunc(err.Error(), func(m string) string {
		i, _ := strconv.Atoi(sourceIndex.FindStringSubmatch(m)[1])
		if i < len(kept) {
			return fmt.Sprintf("sources[%d]", kept[i])
		}
		return m
	})
	return errors.New(msg)
}

// mapValue returns the value of key in mapping node n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalarRefs lists the ${VAR} references in n's scalars. A scalar without
// any counts as a literal, which no variable can leave out: it is reported
// as a reference with an empty name that is not required.
func scalarRefs(n *yaml.Node) []Reference {
	var refs []Reference
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			ms := varRef.FindAllStringSubmatch(n.Value, -1)
			if len(ms) == 0 {
				refs = append(refs, Reference{})
			}
			for _, m := range ms {
				refs = append(refs, Reference{Name: m[1], Required: m[2] == ""})
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return refs
}
