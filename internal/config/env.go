package config

import "go.yaml.in/yaml/v3"

// Environment variables the hooklane binary reads itself. A config file
// may reference any others as ${VAR}; References lists those.
const (
	EnvConfig      = "HOOKLANE_CONFIG"
	EnvAddr        = "HOOKLANE_ADDR"
	EnvDatabaseURL = "DATABASE_URL"
	EnvNATSURL     = "NATS_URL"
	EnvNATSListen  = "HOOKLANE_NATS_LISTEN"
	EnvNATSToken   = "HOOKLANE_NATS_TOKEN"
	EnvLogLevel    = "LOG_LEVEL"
	EnvLogFormat   = "LOG_FORMAT"

	EnvConsoleAddr     = "HOOKLANE_CONSOLE_ADDR"
	EnvConsoleToken    = "HOOKLANE_CONSOLE_TOKEN"
	EnvConsoleUser     = "HOOKLANE_CONSOLE_USER"
	EnvConsolePassword = "HOOKLANE_CONSOLE_PASSWORD"
)

// Environment lists the variables the binary reads itself.
var Environment = []string{EnvConfig, EnvAddr, EnvDatabaseURL, EnvNATSURL, EnvNATSListen, EnvNATSToken, EnvLogLevel, EnvLogFormat,
	EnvConsoleAddr, EnvConsoleToken, EnvConsoleUser, EnvConsolePassword}

// Reference is one ${VAR} in a config file.
type Reference struct {
	Name     string
	Required bool // no :-default given
}

// References lists the ${VAR} references in a config file's values, in
// order; comments are not read, as expansion does not read them.
func References(raw []byte) ([]Reference, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var refs []Reference
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, m := range varRef.FindAllStringSubmatch(n.Value, -1) {
				refs = append(refs, Reference{Name: m[1], Required: m[2] == ""})
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return refs, nil
}
