package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/hooklane/hooklane/internal/provider"
	"github.com/hooklane/hooklane/internal/queue"
)

var subjectToken = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		return name
	})
	must(v.RegisterValidation("subject_token", func(fl validator.FieldLevel) bool {
		return subjectToken.MatchString(fl.Field().String())
	}))
	must(v.RegisterValidation("provider", func(fl validator.FieldLevel) bool {
		_, ok := provider.Lookup(fl.Field().String())
		return ok
	}))
	must(v.RegisterValidation("listen_addr", func(fl validator.FieldLevel) bool {
		return validListenAddr(fl.Field().String())
	}))
	return v
}

// validListenAddr accepts host:port with a numeric port from 0 (any free
// port) to 65535; the host may be empty (every interface).
func validListenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n <= 65535
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// validate checks c after defaults; its errors name the line, the field as
// written in the file, such as "sources[1].secrets", and the variable a
// value came from.
func (c *Config) validate(pos positions, vars map[string][]string) error {
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s%s: %s", pos.line(path), path, from(vars, path), fmt.Sprintf(format, args...)))
	}
	var verrs validator.ValidationErrors
	if err := newValidator().Struct(c); errors.As(err, &verrs) {
		for _, fe := range verrs {
			path := fieldPath(fe)
			fail(path, "%s", describe(fe, emptyNote(vars, path, fe)))
		}
	} else if err != nil {
		return err
	}
	for i, s := range c.Sources {
		at := fmt.Sprintf("sources[%d]", i)
		if len(s.Secrets) == 0 && !s.AllowUnsigned {
			fail(at+".secrets", "source %q has no secret; add one, or set allow_unsigned: true to accept unsigned deliveries", s.Name)
		}
		if s.VerifyToken != "" && s.Provider != "meta" {
			fail(at+".verify_token", "only meta sources have a verification handshake")
		}
		if s.Flows.PrivateKey != "" && s.Provider != "meta" {
			errs = append(errs, fmt.Errorf("%s.flows.private_key: only meta sources have Meta's encrypted flow endpoint", at))
		}
		if s.Flows.PrivateKey != "" && len(s.Secrets) == 0 {
			fail(at+".secrets", "an encrypted flow endpoint needs the app secret to check X-Hub-Signature-256")
		}
		for j, secret := range s.Secrets {
			if why := weakSecret(secret, minSecretLen); why != "" && secret != "" {
				fail(fmt.Sprintf("%s.secrets[%d]", at, j), "%s", why)
			}
		}
		if why := weakSecret(s.BearerToken, minTokenLen); why != "" && s.BearerToken != "" {
			fail(at+".bearer_token", "%s", why)
		}
		if s.VerifyToken != "" && isPlaceholder(s.VerifyToken) {
			fail(at+".verify_token", "%s", placeholderNote)
		}
	}
	for path, raw := range map[string]string{"database_url": c.DatabaseURL, "nats.url": c.NATS.URL} {
		if urlHasPlaceholder(raw) {
			fail(path, "the password in the URL %s", placeholderNote)
		}
	}
	if err := c.Retention.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Ingest.MaxUnauthenticatedBytes <= c.Ingest.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("ingest.max_unauthenticated_bytes: %d cannot hold one body of ingest.max_body_bytes %d; raise it above that",
			c.Ingest.MaxUnauthenticatedBytes, c.Ingest.MaxBodyBytes))
	}
	if c.NATS.Listen != "" && c.NATS.Token == "" && !queue.ListenIsLoopback(c.NATS.Listen) {
		errs = append(errs, fmt.Errorf("nats.listen: %s is reachable from other machines, and anyone who reaches it could queue forged deliveries and read flow data: "+
			"set nats.token (or %s), or listen on 127.0.0.1", c.NATS.Listen, EnvNATSToken))
	}
	return errors.Join(errs...)
}

// from names the variables a path's value came from, as " (from X)".
func from(vars map[string][]string, path string) string {
	if names := vars[path]; len(names) > 0 {
		return " (from " + strings.Join(names, ", ") + ")"
	}
	return ""
}

// emptyNote says that an empty required value came from a variable that is
// set but empty, the one case where a value can be missing from a file
// that names it.
func emptyNote(vars map[string][]string, path string, fe validator.FieldError) string {
	if len(vars[path]) > 0 && fe.Tag() == "required" {
		return "; the variable is set, but empty"
	}
	return ""
}

// fieldPath drops the root type from the validator's namespace.
func fieldPath(fe validator.FieldError) string {
	_, path, _ := strings.Cut(fe.Namespace(), ".")
	return path
}

func describe(fe validator.FieldError, note string) string {
	switch fe.Tag() {
	case "required":
		return "is required" + note
	case "required_with":
		if strings.HasPrefix(fieldPath(fe), "console.") {
			return "console.user and console.password go together: set both, or neither"
		}
		return "cert_file and key_file go together: set both, or neither"
	case "file":
		return fmt.Sprintf("%q is not a file that can be read", fe.Value())
	case "oneof":
		return fmt.Sprintf("%q is not one of: %s", fe.Value(), strings.ReplaceAll(fe.Param(), " ", ", "))
	case "provider":
		return fmt.Sprintf("%q is not one of: %s", fe.Value(), strings.Join(provider.Names(), ", "))
	case "unique":
		return "names must be unique"
	case "subject_token":
		return fmt.Sprintf("%q may hold only letters, digits, '-' and '_'", fe.Value())
	case "listen_addr":
		return fmt.Sprintf("%q is not an address to listen on: want host:port, e.g. 127.0.0.1:4223 (port 0 picks a free port)", fe.Value())
	case "json":
		return "is not valid JSON"
	case "gte":
		return fmt.Sprintf("is %v; it may not be below %s", fe.Value(), fe.Param())
	case "lte":
		return fmt.Sprintf("is %v; it may not be above %s", fe.Value(), fe.Param())
	default:
		return fmt.Sprintf("%v is not allowed here (%s %s)", fe.Value(), fe.Tag(), fe.Param())
	}
}
