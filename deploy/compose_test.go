package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/hooklane/hooklane/ingest"
	"github.com/hooklane/hooklane/internal/config"
)

// Files under test, relative to this package.
const (
	composeFile    = "../docker-compose.yml"
	envExample     = "../.env.example"
	dockerfilePath = "../Dockerfile"
	makefile       = "../Makefile"
	exampleConfig  = "../hooklane.example.yaml"
	commandSource  = "../cmd/hooklane/run.go"
)

const (
	healthy   = types.ServiceConditionHealthy
	completed = types.ServiceConditionCompletedSuccessfully
)

// hooklaneServices are the services that run the hooklane image: the
// command each runs, what it waits for, whether it needs Postgres, and the
// profile that enables it (none: always on).
var hooklaneServices = map[string]struct {
	command  string
	deps     map[string]string
	database bool
	profile  string
}{
	"migrate":        {"migrate", map[string]string{"postgres": healthy}, true, ""},
	"ingest":         {"ingest", map[string]string{"nats": healthy, "migrate": completed}, false, ""},
	"worker":         {"worker", map[string]string{"nats": healthy, "migrate": completed}, true, ""},
	"responder-demo": {"responder-demo", map[string]string{"nats": healthy, "migrate": completed}, false, "demo"},
}

// The one service that builds the image the others run.
const builder = "migrate"

// otherServices are the services of official images, by profile.
var otherServices = map[string]string{"nats": "", "postgres": "", "prometheus": "observability", "grafana": "observability"}

// loadProject loads docker-compose.yml as docker compose does, with the
// variables of .env.example and nothing from the test's environment, and
// every profile enabled.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	return loadProfiles(t, "*")
}

// loadProfiles is loadProject with only the given profiles enabled.
func loadProfiles(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory(".."),
		cli.WithEnvFiles(envExample),
		cli.WithDotEnv,
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

func TestComposeServices(t *testing.T) {
	p := loadProject(t)
	names := append(slices.Collect(maps.Keys(otherServices)), slices.Collect(maps.Keys(hooklaneServices))...)
	if got := p.ServiceNames(); !sameSet(got, names) {
		t.Fatalf("services = %v, want %v", got, names)
	}
	commands := usageCommands(t)
	df := parseDockerfile(t)
	for name, want := range hooklaneServices {
		s := p.Services[name]
		// One service builds the image; the others run it, so a rebuild
		// gives every service the same image and recreates none of them
		// needlessly.
		switch {
		case s.Image != "hooklane:local":
			t.Errorf("%s: image %q, want hooklane:local", name, s.Image)
		case name == builder && (s.Build == nil || s.Build.Context != p.WorkingDir || s.Build.Args["VERSION"] == nil):
			t.Errorf("%s: build %+v; want the context . with the VERSION build argument", name, s.Build)
		case name != builder && (s.Build != nil || s.PullPolicy != types.PullPolicyNever):
			t.Errorf("%s: build %v, pull_policy %q; want no build (%s builds the image) and pull_policy never", name, s.Build, s.PullPolicy, builder)
		}
		if len(s.Command) == 0 || s.Command[0] != want.command || !commands[want.command] {
			t.Errorf("%s: command %q, want %q, one of hooklane's commands %v", name, s.Command, want.command, slices.Sorted(maps.Keys(commands)))
		}
		deps := map[string]string{}
		for dep, d := range s.DependsOn {
			deps[dep] = d.Condition
		}
		if !maps.Equal(deps, want.deps) {
			t.Errorf("%s: depends_on %v, want %v", name, deps, want.deps)
		}
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeBind && v.Target == df.final.env[config.EnvConfig] && v.ReadOnly &&
				v.Source == filepath.Join(p.WorkingDir, filepath.Base(exampleConfig))
		}) {
			t.Errorf("%s: %s not mounted read-only at HOOKLANE_CONFIG (%s)", name, exampleConfig, df.final.env[config.EnvConfig])
		}
	}
}

func TestComposeProfiles(t *testing.T) {
	p := loadProject(t)
	var always []string
	for name, profile := range otherServices {
		checkProfile(t, p, name, profile)
		if profile == "" {
			always = append(always, name)
		}
	}
	for name, want := range hooklaneServices {
		checkProfile(t, p, name, want.profile)
		if want.profile == "" {
			always = append(always, name)
		}
	}
	// A plain docker compose up runs no demo responder and no monitoring.
	if got := loadProfiles(t).ServiceNames(); !sameSet(got, always) {
		t.Errorf("services without a profile = %v, want %v", got, always)
	}
}

func checkProfile(t *testing.T, p *types.Project, name, profile string) {
	t.Helper()
	want := []string{}
	if profile != "" {
		want = []string{profile}
	}
	if got := p.Services[name].Profiles; !slices.Equal(append([]string{}, got...), want) {
		t.Errorf("%s: profiles %q, want %q", name, got, want)
	}
}

func TestComposeHealthchecks(t *testing.T) {
	p := loadProject(t)
	entrypoint := parseDockerfile(t).final.entrypoint
	for name, s := range p.Services {
		hc := s.HealthCheck
		switch {
		case s.Restart == types.RestartPolicyNo:
			// A one-shot exits when done and serves nothing to probe.
			if hc == nil || !hc.Disable {
				t.Errorf("%s: a one-shot service should disable the inherited healthcheck", name)
			}
		case hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Interval == nil || hc.Retries == nil || hc.StartPeriod == nil:
			t.Errorf("%s: healthcheck %+v; want a test with interval, retries and start_period", name, hc)
		case s.Image == "hooklane:local":
			// The probe must reach the port the service listens on.
			addr := s.Environment[config.EnvAddr]
			if addr == nil {
				t.Errorf("%s: %s not set, so its healthcheck cannot know the port", name, config.EnvAddr)
				continue
			}
			_, port, _ := net.SplitHostPort(*addr)
			want := []string{"CMD", entrypoint, "probe", "http://127.0.0.1:" + port + "/readyz"}
			if !slices.Equal(hc.Test, want) {
				t.Errorf("%s: healthcheck %q, want %q (%s=%s)", name, hc.Test, want, config.EnvAddr, *addr)
			}
		}
	}
}

func TestComposeScalableWorker(t *testing.T) {
	w := loadProject(t).Services["worker"]
	if w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas != 2 {
		t.Errorf("worker: want deploy: {replicas: 2}")
	}
	if w.ContainerName != "" || len(w.Ports) > 0 {
		t.Errorf("worker: container_name %q, ports %v; either stops --scale worker=N", w.ContainerName, w.Ports)
	}
}

func TestComposeNamedVolumes(t *testing.T) {
	t.Setenv("NATS_TOKEN", "compose-test-token")
	p := loadProject(t)
	for name, dataDir := range map[string]string{"nats": natsStoreDir(t, p.Services["nats"]), "postgres": "/var/lib/postgresql/data"} {
		s := p.Services[name]
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			_, declared := p.Volumes[v.Source]
			return v.Type == types.VolumeTypeVolume && declared && v.Target == dataDir
		}) {
			t.Errorf("%s: volumes %+v; want a named volume at %s", name, s.Volumes, dataDir)
		}
	}
}

// natsStoreDir is the JetStream store directory of the config file the
// nats service runs with, read by nats-server's own parser.
func natsStoreDir(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	i := slices.Index(s.Command, "-c")
	if i < 0 || i+1 == len(s.Command) {
		t.Fatalf("nats: command %q, want -c FILE", s.Command)
	}
	var hostFile string
	for _, v := range s.Volumes {
		if v.Target == s.Command[i+1] {
			hostFile = v.Source
		}
	}
	if hostFile == "" {
		t.Fatalf("nats: %s is not mounted", s.Command[i+1])
	}
	opts := natsConfig(t, hostFile)
	if !opts.JetStream || opts.StoreDir == "" {
		t.Fatalf("nats: %s does not enable JetStream with a store_dir", hostFile)
	}
	if opts.Authorization != os.Getenv("NATS_TOKEN") {
		t.Errorf("nats: %s does not take its token from NATS_TOKEN", hostFile)
	}
	return opts.StoreDir
}

// natsConfig parses a NATS config file and checks it takes a message of
// hooklane's largest body and its headers.
func natsConfig(t *testing.T, file string) *server.Options {
	t.Helper()
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if need := int32(ingest.DefaultMaxBodyBytes + 64<<10); opts.MaxPayload < need {
		t.Errorf("%s: max_payload %d, want at least %d for ingest.max_body_bytes and headers", file, opts.MaxPayload, need)
	}
	return opts
}

func TestComposeEnvironment(t *testing.T) {
	p := loadProject(t)
	refs := exampleReferences(t)
	read := map[string]bool{}
	for _, name := range config.Environment {
		read[name] = true
	}
	for _, r := range refs {
		read[r.Name] = true
	}
	for name, want := range hooklaneServices {
		env := p.Services[name].Environment
		for k := range env {
			if !read[k] {
				t.Errorf("%s: sets %s, which hooklane never reads", name, k)
			}
		}
		// Each variable the config reads is passed on, but only when .env
		// sets it: a source whose secret is not set is left out.
		for _, r := range refs {
			if _, listed := env[r.Name]; r.Required && !listed {
				t.Errorf("%s: %s is read by %s but not passed on", name, r.Name, exampleConfig)
			}
		}
		checkURL(t, name, env, config.EnvNATSURL, "nats")
		if u, err := url.Parse(*env[config.EnvNATSURL]); err != nil || u.User.Username() == "" {
			t.Errorf("%s: %s carries no token for the compose NATS", name, config.EnvNATSURL)
		}
		if want.database {
			checkURL(t, name, env, config.EnvDatabaseURL, "postgres")
		}
	}
}

// exampleReferences lists the ${VAR}s of the example config's values.
func exampleReferences(t *testing.T) []config.Reference {
	t.Helper()
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := config.References(raw)
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// checkURL checks that env's URL variable names service's host.
func checkURL(t *testing.T, name string, env types.MappingWithEquals, key, service string) {
	t.Helper()
	v := env[key]
	if v == nil {
		t.Errorf("%s: %s not set", name, key)
		return
	}
	if u, err := url.Parse(*v); err != nil || u.Hostname() != service {
		t.Errorf("%s: %s=%s does not point at the %s service", name, key, *v, service)
	}
}

// TestEnvExampleIsRefused: a stack started with .env.example unedited does
// not run: hooklane refuses every placeholder, naming its variable.
func TestEnvExampleIsRefused(t *testing.T) {
	p := loadProject(t)
	for _, name := range []string{"worker", "ingest"} {
		env := p.Services[name].Environment
		_, err := config.LoadLookup(exampleConfig, func(k string) (string, bool) {
			if v := env[k]; v != nil {
				return *v, true
			}
			return "", false
		})
		if err == nil {
			t.Fatalf("%s: the example config loads with .env.example's placeholders", name)
		}
		want := []string{"PLATICA_SECRET", "META_APP_SECRET", "META_VERIFY_TOKEN", "WHATZ_SECRET", "WHAPI_SECRET", config.EnvNATSURL}
		if p.Services[name].Environment[config.EnvDatabaseURL] != nil {
			want = append(want, config.EnvDatabaseURL)
		}
		for _, v := range want {
			if !strings.Contains(err.Error(), "(from "+v+")") {
				t.Errorf("%s: the error does not name %s:\n%v", name, v, err)
			}
		}
	}
}

func TestEnvExampleDocumentsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	example, err := dotenv.Read(envExample)
	if err != nil {
		t.Fatal(err)
	}
	// Variables passed on from .env as they are, without a value here.
	for name, env := range loadProject(t).Services["worker"].Environment {
		if _, ok := example[name]; !ok && env == nil {
			t.Errorf("%s passes %s on from .env, which %s does not list", composeFile, name, envExample)
		}
	}
	for _, m := range regexp.MustCompile(`\$\{(\w+)(:?\?)?`).FindAllStringSubmatch(string(raw), -1) {
		v, ok := example[m[1]]
		switch {
		case !ok:
			t.Errorf("%s uses ${%s}, which %s does not list", composeFile, m[1], envExample)
		case m[2] != "" && !strings.Contains(v, "CHANGE-ME"):
			t.Errorf("%s: the required %s=%q should be an obvious CHANGE-ME placeholder", envExample, m[1], v)
		}
	}
}

func TestDockerfileBuildsWithMake(t *testing.T) {
	df := parseDockerfile(t)
	recipe, out := makeBuild(t)

	goMod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	if want := "golang:" + string(goVersion[1]) + "-bookworm"; df.build.from != want {
		t.Errorf("build stage FROM %s, want %s (go.mod's go line)", df.build.from, want)
	}
	if !slices.ContainsFunc(df.build.run, func(run string) bool { return strings.HasSuffix(run, " make build VERSION=$VERSION") }) ||
		!slices.Contains(df.build.arg, "VERSION=devel") {
		t.Errorf("build stage ARG %q, RUN %q; want ARG VERSION=devel and RUN make build VERSION=$VERSION", df.build.arg, df.build.run)
	}
	if !strings.Contains(recipe, `-ldflags "-X github.com/hooklane/hooklane/internal/app.buildVersion=`) || !declaresVar(t, "../internal/app", "buildVersion") {
		t.Errorf("make build (%s) does not stamp the version into internal/app's buildVersion", recipe)
	}
	if !strings.Contains(recipe, "CGO_ENABLED=0") {
		t.Errorf("make build (%s) is not static, and the final image has no libc", recipe)
	}
	if want := "--from=build " + path.Join(df.build.workdir, out) + " " + df.final.entrypoint; !slices.Contains(df.final.copy, want) {
		t.Errorf("final stage COPY %q; want %q, the binary make build writes", df.final.copy, want)
	}
	if want := "hooklane.example.yaml " + df.final.env[config.EnvConfig]; !slices.Contains(df.final.copy, want) {
		t.Errorf("final stage COPY %q; want %q", df.final.copy, want)
	}
	if user, _, _ := strings.Cut(df.final.user, ":"); user == "" || user == "root" || user == "0" {
		t.Errorf("final stage USER %q; want a non-root user", df.final.user)
	}
	if !slices.Contains(df.final.expose, "8080") {
		t.Errorf("final stage EXPOSE %q; want 8080", df.final.expose)
	}
}

func TestNATSClusterConfig(t *testing.T) {
	t.Setenv("NATS_SERVER_NAME", "nats-2")
	opts := natsConfig(t, "nats-cluster.conf")
	if opts.ServerName != "nats-2" || !opts.JetStream || opts.StoreDir == "" {
		t.Errorf("server_name %q, jetstream %v, store_dir %q; want the name from the environment and JetStream on disk",
			opts.ServerName, opts.JetStream, opts.StoreDir)
	}
	if opts.Cluster.Name == "" || opts.Cluster.Port == 0 || len(opts.Routes) != 3 {
		t.Errorf("cluster %q on port %d with %d routes; want a named cluster with routes to 3 nodes",
			opts.Cluster.Name, opts.Cluster.Port, len(opts.Routes))
	}
}

// usageCommands lists the commands in the usage text of cmd/hooklane, the
// lines between "commands:" and the next blank line.
func usageCommands(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), commandSource, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var usage string
	ast.Inspect(f, func(n ast.Node) bool {
		if spec, ok := n.(*ast.ValueSpec); ok && len(spec.Values) == 1 && spec.Names[0].Name == "usage" {
			if lit, ok := spec.Values[0].(*ast.BasicLit); ok {
				usage, err = strconv.Unquote(lit.Value)
			}
		}
		return usage == ""
	})
	if usage == "" || err != nil {
		t.Fatalf("%s: no usage string constant (%v)", commandSource, err)
	}
	_, list, ok := strings.Cut(usage, "\ncommands:\n")
	if !ok {
		t.Fatalf("%s: usage has no commands: section", commandSource)
	}
	list, _, _ = strings.Cut(list, "\n\n")
	commands := map[string]bool{}
	for line := range strings.Lines(list) {
		// "  name  help"; a help text too long for one line continues
		// on the next, indented further.
		if rest, ok := strings.CutPrefix(line, "  "); ok && rest != "" && rest[0] != ' ' {
			commands[strings.Fields(rest)[0]] = true
		}
	}
	return commands
}

// makeBuild returns the recipe of the Makefile's build target with its
// variables expanded, and the binary it writes (its -o).
func makeBuild(t *testing.T) (recipe, out string) {
	t.Helper()
	raw, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)\s*[?:]?=\s*(.*?)\s*$`).FindAllStringSubmatch(string(raw), -1) {
		vars[m[1]] = m[2]
	}
	m := regexp.MustCompile(`(?m)^build:.*\n(?:\t.*\n)*?\t(.*\bbuild\b.* -o .*)$`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("%s: no build target", makefile)
	}
	recipe = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllStringFunc(m[1], func(ref string) string {
		if v, ok := vars[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
	fields := strings.Fields(recipe)
	if i := slices.Index(fields, "-o"); i >= 0 && i+1 < len(fields) {
		return recipe, fields[i+1]
	}
	t.Fatalf("%s: build recipe %q has no -o", makefile, recipe)
	return "", ""
}

// dockerfile is what the tests need of the Dockerfile.
type dockerfile struct{ build, final stage }

type stage struct {
	from, workdir, user    string
	run, copy, expose, arg []string
	env                    map[string]string
	entrypoint             string // argv[0] of an exec-form ENTRYPOINT
}

// parseDockerfile reads the build stage (named "build") and the final
// stage of the Dockerfile, joining continued lines.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var df dockerfile
	var cur *stage
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(text, `\`); ok {
			line += cont + " "
			continue
		}
		instr, args, _ := strings.Cut(line+text, " ")
		args = strings.Join(strings.Fields(args), " ")
		line = ""
		switch strings.ToUpper(instr) {
		case "FROM":
			image, name, _ := strings.Cut(args, " AS ")
			cur = &df.final
			if name == "build" {
				cur = &df.build
			}
			*cur = stage{from: image, env: map[string]string{}}
		case "WORKDIR":
			cur.workdir = args
		case "USER":
			cur.user = args
		case "RUN":
			cur.run = append(cur.run, args)
		case "ARG":
			cur.arg = append(cur.arg, args)
		case "COPY":
			cur.copy = append(cur.copy, args)
		case "EXPOSE":
			cur.expose = append(cur.expose, strings.Fields(args)...)
		case "ENV":
			k, v, _ := strings.Cut(args, "=")
			cur.env[k] = v
		case "ENTRYPOINT":
			var argv []string
			if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
				t.Fatalf("%s: ENTRYPOINT %s is not in exec form", dockerfilePath, args)
			}
			cur.entrypoint = argv[0]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if df.build.from == "" || df.final.from == "" || df.final.entrypoint == "" {
		t.Fatalf("%s: want a stage named build, a final stage and an ENTRYPOINT", dockerfilePath)
	}
	return df
}

// declaresVar reports whether the Go package in dir declares a package-level
// variable name, which -ldflags -X can set.
func declaresVar(t *testing.T, dir, name string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if obj := f.Scope.Lookup(name); obj != nil && obj.Kind == ast.Var {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
