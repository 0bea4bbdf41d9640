package config

// Environment variables the hooklane binary reads itself. A config file
// may reference any others as ${VAR}; References lists those.
const (
	EnvConfig      = "HOOKLANE_CONFIG"
	EnvAddr        = "HOOKLANE_ADDR"
	EnvDatabaseURL = "DATABASE_URL"
	EnvNATSURL     = "NATS_URL"
	EnvLogLevel    = "LOG_LEVEL"
	EnvLogFormat   = "LOG_FORMAT"
)

// Environment lists the variables the binary reads itself.
var Environment = []string{EnvConfig, EnvAddr, EnvDatabaseURL, EnvNATSURL, EnvLogLevel, EnvLogFormat}

// Reference is one ${VAR} in a config file.
type Reference struct {
	Name     string
	Required bool // no :-default given
}

// References lists the ${VAR} references in a config file, in order.
func References(raw []byte) []Reference {
	var refs []Reference
	for _, m := range varRef.FindAllStringSubmatch(string(raw), -1) {
		refs = append(refs, Reference{Name: m[1], Required: m[2] == ""})
	}
	return refs
}
