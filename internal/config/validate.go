package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/hooklane/hooklane/internal/provider"
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
	return v
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// validate checks c after defaults; its errors name the field as written in
// the file, such as "sources[1].secrets".
func (c *Config) validate() error {
	var errs []error
	var verrs validator.ValidationErrors
	if err := newValidator().Struct(c); errors.As(err, &verrs) {
		for _, fe := range verrs {
			errs = append(errs, fmt.Errorf("%s: %s", fieldPath(fe), describe(fe)))
		}
	} else if err != nil {
		return err
	}
	for i, s := range c.Sources {
		at := fmt.Sprintf("sources[%d]", i)
		if len(s.Secrets) == 0 && !s.AllowUnsigned {
			errs = append(errs, fmt.Errorf("%s.secrets: source %q has no secret; add one, or set allow_unsigned: true to accept unsigned deliveries", at, s.Name))
		}
		if s.VerifyToken != "" && s.Provider != "meta" {
			errs = append(errs, fmt.Errorf("%s.verify_token: only meta sources have a verification handshake", at))
		}
		if s.Flows.PrivateKey != "" && s.Provider != "meta" {
			errs = append(errs, fmt.Errorf("%s.flows.private_key: only meta sources have Meta's encrypted flow endpoint", at))
		}
		if s.Flows.PrivateKey != "" && len(s.Secrets) == 0 {
			errs = append(errs, fmt.Errorf("%s.secrets: an encrypted flow endpoint needs the app secret to check X-Hub-Signature-256", at))
		}
	}
	if err := c.Retention.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// fieldPath drops the root type from the validator's namespace.
func fieldPath(fe validator.FieldError) string {
	_, path, _ := strings.Cut(fe.Namespace(), ".")
	return path
}

func describe(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "oneof":
		return fmt.Sprintf("%q is not one of: %s", fe.Value(), fe.Param())
	case "provider":
		return fmt.Sprintf("%q is not one of: %s", fe.Value(), strings.Join(provider.Names(), " "))
	case "unique":
		return "names must be unique"
	case "subject_token":
		return fmt.Sprintf("%q may hold only letters, digits, '-' and '_'", fe.Value())
	case "json":
		return "is not valid JSON"
	default:
		return fmt.Sprintf("fails %s=%s (value %v)", fe.Tag(), fe.Param(), fe.Value())
	}
}
