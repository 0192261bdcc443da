package analyze

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/tools/go/packages"

	"github.com/wfgen/wfgen/internal/wfgen/codehash"
	"github.com/wfgen/wfgen/internal/wfgen/determinism"
	"github.com/wfgen/wfgen/internal/wfgen/directive"
	"github.com/wfgen/wfgen/internal/wfgen/model"
	"github.com/wfgen/wfgen/internal/wfgen/progress"
)

// What each kind of annotated function must look like, for error messages.
const (
	wantWorkflow  = "want func(wf.Context[, In]) (Out, error) or func(wf.Context[, In]) error"
	wantScheduled = "want func(wf.Context, wf.Tick) (Out, error) or func(wf.Context, wf.Tick) error"
	wantStep      = "want func(context.Context, args...) (T, error) or func(context.Context, args...) error"
	wantTxStep    = "want func(context.Context, pgx.Tx, args...) (T, error) or func(context.Context, pgx.Tx, args...) error"
	pgxPath       = "github.com/jackc/pgx/v5"
)

// builder builds the models of the packages of one run, remembering the registered names
// it has seen so that duplicates across packages are found too.
type builder struct {
	sink  *diagSink
	names map[string]string // "workflow name" or "step name" -> who has it
	// roles are the identifiers generated in this run, by "import path.name".
	roles map[string]generatedRole
	// queueVars are the constant names of the queues the packages of the run declare, by
	// import path and variable; queueNames are all those names, sorted.
	queueVars  map[string]map[string]string
	queueNames []string
	// queuePackages are the import paths of the packages of the run that declare queues,
	// by package name.
	queuePackages map[string]string
}

// build returns the model of a package that builds, reporting the mistakes of its
// annotated functions.
func (b *builder) build(pkg *packages.Package, dir string, found []*annotated, allowed allowances) *model.Package {
	m := &model.Package{Path: pkg.PkgPath, Name: pkg.Name, Dir: dir}
	q := qualifier(pkg.Types)
	reserved := reservedNames(pkg.Types)
	wfDecls := map[*model.Workflow]*ast.FuncDecl{}
	funcs := map[string]*types.Func{}
	stepFuncs := map[*types.Func]bool{}
	for _, a := range found {
		fn, _ := pkg.TypesInfo.Defs[a.decl.Name].(*types.Func)
		if fn == nil {
			continue
		}
		funcs[fn.Name()] = fn
		if a.isStep() {
			stepFuncs[fn] = true
			if s := b.step(pkg, a, fn, q, reserved); s != nil {
				m.Steps = append(m.Steps, s)
			}
			continue
		}
		if w := b.workflow(pkg, a, fn, q); w != nil {
			m.Workflows = append(m.Workflows, w)
			wfDecls[w] = a.decl
		}
	}
	m.Deps = deps(m.Steps, reserved)
	m.Queues = queues(pkg)
	m.QueueRefs = externalQueues(m.Workflows)
	m.Channels = b.channels(pkg, q)
	b.checkCollisions(pkg, m, found)

	// Code hashes: generated code is absent while wfgen runs, so references to it are
	// described by the step or workflow they stand for.
	generated := map[string]string{}
	for _, s := range m.Steps {
		recv := ""
		if s.Recv != nil {
			// A step moved to (or between) receivers is another step to the workflows
			// calling it: their replay finds it through another registered value.
			recv = " (*" + s.Recv.Type + ")"
		}
		generated[s.WrapperFunc()] = "step " + strconv.Quote(s.Name) + recv + " " + codehash.Signature(funcs[s.Func].Signature(), pkg.Types)
	}
	for _, w := range m.Workflows {
		for _, name := range model.ReferableNames(false, w.Func) {
			generated[name] = "workflow " + strconv.Quote(w.Name) + " " + codehash.Signature(funcs[w.Func].Signature(), pkg.Types)
		}
	}
	hasher := codehash.NewPackage(pkg.Types, pkg.TypesInfo, pkg.Syntax,
		func(fn *types.Func) bool { return stepFuncs[fn] },
		func(name string) (string, bool) { desc, ok := generated[name]; return desc, ok })
	counter := &progress.Package{
		Info: pkg.TypesInfo,
		Fset: pkg.Fset,
		Path: pkg.PkgPath,
		Generated: func(pkgPath, name string) (model.Role, bool) {
			r, ok := b.roles[pkgPath+"."+name]
			return r.role, ok
		},
	}
	for _, w := range m.Workflows {
		w.CodeHash = hasher.Workflow(wfDecls[w])
		w.ExpectedSteps = counter.Count(wfDecls[w])
		w.Events, w.Topics, w.Streams = ownedChannels(pkg.TypesInfo, wfDecls[w], hasher.Decls, m.Channels)
	}

	accessors := map[string]bool{}
	for _, c := range m.Channels {
		for _, name := range []string{c.GetAccessor(), c.WaitAccessor(), c.SendAccessor(), c.ReadAccessor(), c.AllAccessor()} {
			accessors[name] = true
		}
	}
	checker := &determinism.Package{
		Info: pkg.TypesInfo,
		Decl: func(fn *types.Func) *ast.FuncDecl { return hasher.Decls[fn] },
		Step: func(fn *types.Func) (string, bool) {
			return (&model.Step{Func: fn.Name()}).WrapperFunc(), stepFuncs[fn]
		},
		Fset: pkg.Fset,
		Path: pkg.PkgPath,
		Generated: func(pkgPath, name string) (model.Role, string, bool) {
			r, ok := b.roles[pkgPath+"."+name]
			return r.role, r.fn, ok
		},
		Accessors: accessors,
	}
	for _, w := range m.Workflows {
		for _, f := range checker.Workflow(wfDecls[w]) {
			if pos := b.sink.fset.Position(f.Pos); !allowed.covers(pos) {
				b.sink.at(f.Pos, "%s", f.Msg)
			}
		}
	}
	return m
}

// claim records a registered name, reporting a duplicate. An empty name (an invalid name=
// option, already reported) claims nothing.
func (b *builder) claim(kind, name string, pos token.Pos, who string) {
	if name == "" {
		return
	}
	key := kind + " " + name
	if prev, dup := b.names[key]; dup {
		b.sink.at(pos, "%s name %q is already used by %s: names must be unique", kind, name, prev)
		return
	}
	b.names[key] = who
}

func (b *builder) workflow(pkg *packages.Package, a *annotated, fn *types.Func, q types.Qualifier) *model.Workflow {
	w := &model.Workflow{Func: fn.Name(), Name: model.DefaultName(pkg.Name, pkg.PkgPath, fn.Name())}
	sd, scheduled := a.dirs[kindScheduled]
	nameOpt := token.NoPos

	// Options of //wf:workflow and //wf:scheduled, but for queue, mean the same.
	given := map[string]bool{}
	for _, kind := range []string{kindWorkflow, kindScheduled} {
		d, ok := a.dirs[kind]
		if !ok {
			continue
		}
		for _, o := range d.Options {
			if !slices.Contains(knownOptions[kind], o.Key) {
				continue // reported by checkKnown
			}
			if o.Key != "queue" {
				if given[o.Key] {
					b.sink.at(o.Pos, "option %s given in both //wf:workflow and //wf:scheduled", o.Key)
					continue
				}
				given[o.Key] = true
			}
			switch o.Key {
			case "name":
				w.Name = b.sink.name(o)
				nameOpt = o.Pos
			case "max_recovery":
				if n, ok := b.sink.count(o); ok {
					w.MaxRecoveries = &n
				}
			case "timeout":
				w.Timeout = b.sink.duration(o, false)
			}
		}
	}
	if d, ok := a.dirs[kindWorkflow]; ok {
		for _, o := range d.Options {
			if o.Key == "queue" {
				w.Queue = b.queue(pkg, a.decl, o)
			}
		}
	}
	if scheduled {
		w.Schedule = b.schedule(pkg, a.decl, sd)
		// Ticks are enqueued on the schedule's queue; unless the workflow names its own,
		// make it the workflow's too, so that the workers registering the workflow
		// work that queue.
		if w.Queue.IsZero() {
			w.Queue = w.Schedule.Queue
		}
	}

	what := "workflow " + fn.Name()
	want := wantWorkflow
	if scheduled {
		want = wantScheduled
	}
	sig := fn.Signature()
	ft := a.decl.Type
	ok := b.notGeneric(what, ft, sig, want)
	ok = b.contextParam(what, ft, sig, q, wfPath, "context.Context is for steps", want) && ok
	params := fieldPositions(ft.Params, ft.Params.Opening)
	switch n := sig.Params().Len(); {
	case n > 2:
		b.sink.at(params[2], "%s: wrong signature: %d parameters after wf.Context; a workflow takes at most one input: put them in a struct; %s", what, n-1, want)
		ok = false
	case n == 2 && sig.Variadic():
		b.sink.at(params[1], "%s: wrong signature: the input is variadic; take a slice; %s", what, want)
		ok = false
	case n == 2:
		w.In = sig.Params().At(1).Type()
	}
	if scheduled && (w.In == nil || !isNamed(w.In, wfPath, "Tick")) && sig.Params().Len() <= 2 && !sig.Variadic() {
		if w.In == nil {
			b.sink.at(ft.Params.Closing, "%s: wrong signature: a scheduled workflow takes the tick (wf.Tick) as its input; %s", what, want)
		} else {
			b.sink.at(params[1], "%s: wrong signature: the input is %s, must be wf.Tick (the time the schedule fired for); %s", what, types.TypeString(w.In, q), want)
		}
		ok = false
	}
	out, resultsOK := b.results(what, ft, sig, q, want)
	ok = resultsOK && ok
	w.Out = out
	if w.In != nil {
		ok = b.storable(what, "input", w.In, params[1], q) && ok
	}
	b.claim("workflow", w.Name, cmpPos(nameOpt, a.decl.Name.Pos()), who(pkg, fn))
	if !ok {
		return nil
	}
	return w
}

func who(pkg *packages.Package, fn *types.Func) string {
	return fmt.Sprintf("%s in package %s", fn.Name(), pkg.PkgPath)
}

// cmpPos returns the first valid position.
func cmpPos(ps ...token.Pos) token.Pos {
	for _, p := range ps {
		if p.IsValid() {
			return p
		}
	}
	return token.NoPos
}

func (b *builder) schedule(pkg *packages.Package, decl *ast.FuncDecl, d directive.Directive) *model.Schedule {
	s := &model.Schedule{}
	hasCron := false
	for _, o := range d.Options {
		switch o.Key {
		case "cron":
			hasCron = true
			s.Cron = b.sink.cron(o)
		case "tz":
			s.Timezone = b.sink.timezone(o)
		case "queue":
			s.Queue = b.queue(pkg, decl, o)
		case "backfill":
			s.Backfill = b.sink.duration(o, false)
		}
	}
	if !hasCron {
		b.sink.at(d.Pos, "//wf:scheduled needs a cron spec, such as cron=\"0 3 * * *\" or cron=@hourly")
	}
	return s
}

func (b *builder) step(pkg *packages.Package, a *annotated, fn *types.Func, q types.Qualifier, reserved map[string]bool) *model.Step {
	s := &model.Step{Func: fn.Name(), Name: model.DefaultName(pkg.Name, pkg.PkgPath, fn.Name())}
	nameOpt := token.NoPos
	var backoff, maxBackoff *directive.Option
	for _, o := range a.dirs[kindStep].Options {
		switch o.Key {
		case "name":
			s.Name = b.sink.name(o)
			nameOpt = o.Pos
		case "retries":
			if n, ok := b.sink.count(o); ok {
				s.MaxAttempts = n + 1
			}
		case "backoff":
			d := b.sink.duration(o, true)
			s.Backoff = &d
			backoff = &o
		case "max_backoff":
			s.MaxBackoff = b.sink.duration(o, false)
			maxBackoff = &o
		case "factor":
			s.Factor = b.sink.factor(o)
		case "jitter":
			s.Jitter = b.sink.jitter(o)
		case "retry_if":
			s.RetryIf = b.retryIf(pkg, o)
		case "timeout":
			s.Timeout = b.sink.duration(o, false)
		case "tx":
			s.Tx = true
		}
	}
	if backoff != nil && maxBackoff != nil && s.MaxBackoff > 0 && s.MaxBackoff < *s.Backoff {
		b.sink.at(maxBackoff.ValuePos, "max_backoff %s is less than backoff %s", maxBackoff.Value, backoff.Value)
	}

	what := "step " + fn.Name()
	want := wantStep
	if s.Tx {
		want = wantTxStep
	}
	sig := fn.Signature()
	ft := a.decl.Type
	ok := b.notGeneric(what, ft, sig, want)
	ok = b.contextParam(what, ft, sig, q, contextPath, fmt.Sprintf("workflows call the generated %s, which takes the wf.Context", s.WrapperFunc()), want) && ok
	ok = b.receiver(s, a.decl, sig, q) && ok
	first, txOK := b.txParam(s, ft, sig, q, want)
	ok = txOK && ok
	used := map[string]bool{}
	for i := first; i < sig.Params().Len(); i++ {
		p := sig.Params().At(i)
		name := p.Name()
		if name == "" || name == "_" || reserved[name] || used[name] {
			name = "arg" + strconv.Itoa(i)
			for n := 2; reserved[name] || used[name]; n++ {
				name = "arg" + strconv.Itoa(i) + "_" + strconv.Itoa(n)
			}
		}
		used[name] = true
		s.Params = append(s.Params, model.Param{Name: name, Type: p.Type()})
	}
	s.Variadic = sig.Variadic()
	// Only the output is stored; the parameters reach the step through a closure and are
	// never encoded, so they may be of any type.
	out, resultsOK := b.results(what, ft, sig, q, want)
	ok = resultsOK && ok
	s.Out = out
	b.claim("step", s.Name, cmpPos(nameOpt, a.decl.Name.Pos()), who(pkg, fn))
	if !ok {
		return nil
	}
	return s
}

// storable reports an input or output type (role) that cannot make a round trip through
// JSON, as the runtime stores them; a nil type (no input, no output) is fine.
func (b *builder) storable(what, role string, t types.Type, pos token.Pos, q types.Qualifier) bool {
	if t == nil {
		return true
	}
	p := jsonProblem(t, q)
	if p == "" {
		return true
	}
	b.sink.at(pos, "%s: the %s type %s cannot be stored as JSON: %s", what, role, types.TypeString(t, q), p)
	return false
}

func (b *builder) notGeneric(what string, ft *ast.FuncType, sig *types.Signature, want string) bool {
	if sig.TypeParams().Len() == 0 {
		return true
	}
	b.sink.at(ft.TypeParams.Opening, "%s: wrong signature: type parameters are not allowed, the runtime needs concrete types; %s", what, want)
	return false
}

// results checks that a function returns (T, error), with a T that JSON can store, or
// error, and returns T.
func (b *builder) results(what string, ft *ast.FuncType, sig *types.Signature, q types.Qualifier, want string) (types.Type, bool) {
	res := sig.Results()
	pos := fieldPositions(ft.Results, ft.Params.Closing)
	switch {
	case res.Len() == 1 && isError(res.At(0).Type()):
		return nil, true
	case res.Len() == 2 && isError(res.At(1).Type()):
		out := res.At(0).Type()
		return out, b.storable(what, "output", out, pos[0], q)
	case res.Len() == 0:
		b.sink.at(ft.Params.Closing, "%s: wrong signature: no results, must return an error, with or without an output before it; %s", what, want)
	case res.Len() == 1:
		b.sink.at(pos[0], "%s: wrong signature: the result is %s, must be error or (%s, error); %s", what, types.TypeString(res.At(0).Type(), q), types.TypeString(res.At(0).Type(), q), want)
	case res.Len() == 2:
		b.sink.at(pos[1], "%s: wrong signature: the second result is %s, must be error; %s", what, types.TypeString(res.At(1).Type(), q), want)
	default:
		b.sink.at(pos[0], "%s: wrong signature: %d results, must be (Out, error) or error; %s", what, res.Len(), want)
	}
	return nil, false
}

// contextParam checks that the first parameter is the Context of the package at path
// (wf or context). hint says why, when the parameter is the other Context.
func (b *builder) contextParam(what string, ft *ast.FuncType, sig *types.Signature, q types.Qualifier, path, hint, want string) bool {
	wantType := "wf.Context"
	if path == contextPath {
		wantType = "context.Context"
	}
	if sig.Params().Len() == 0 {
		b.sink.at(ft.Params.Opening, "%s: wrong signature: no parameters, the first must be %s; %s", what, wantType, want)
		return false
	}
	t := sig.Params().At(0).Type()
	if isNamed(t, path, "Context") {
		return true
	}
	why := ""
	if isNamed(t, wfPath, "Context") || isNamed(t, contextPath, "Context") {
		why = " (" + hint + ")"
	}
	b.sink.at(fieldPositions(ft.Params, token.NoPos)[0], "%s: wrong signature: the first parameter is %s, must be %s%s; %s", what, types.TypeString(t, q), wantType, why, want)
	return false
}

// fieldPositions returns the position of each parameter or result of a list, one per name
// (a, b int is two), at its type; with an empty list, the fallback.
func fieldPositions(fl *ast.FieldList, fallback token.Pos) []token.Pos {
	var ps []token.Pos
	if fl != nil {
		for _, f := range fl.List {
			for range max(len(f.Names), 1) {
				ps = append(ps, f.Type.Pos())
			}
		}
	}
	if len(ps) == 0 {
		ps = append(ps, fallback)
	}
	return ps
}

var errorType = types.Universe.Lookup("error").Type()

func isError(t types.Type) bool { return types.Identical(t, errorType) }

// isNamed reports whether t is the named type path.name (through aliases).
func isNamed(t types.Type, path, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == path && n.Obj().Name() == name
}

// qualifier writes the package's own types unqualified and others by package name, as
// users write them.
func qualifier(pkg *types.Package) types.Qualifier {
	return func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		return p.Name()
	}
}

// reservedNames are names a generated parameter must not take: it would shadow a
// package-level identifier, an import or a predeclared identifier the generated body
// refers to.
func reservedNames(pkg *types.Package) map[string]bool {
	reserved := map[string]bool{"ctx": true, "wf": true, "context": true, "pgx": true, "tx": true, "err": true, "recv": true, "zero": true}
	for _, scope := range []*types.Scope{types.Universe, pkg.Scope()} {
		for _, name := range scope.Names() {
			reserved[name] = true
		}
	}
	for _, imp := range pkg.Imports() {
		reserved[imp.Name()] = true
	}
	return reserved
}

// queues returns the package-level *wf.Queue variables, in source order.
func queues(pkg *packages.Package) []*model.Queue {
	type found struct {
		q   *model.Queue
		pos token.Position
	}
	var fs []found
	scope := pkg.Types.Scope()
	for _, name := range scope.Names() {
		v, ok := scope.Lookup(name).(*types.Var)
		if !ok || name == "_" {
			continue
		}
		if p, ok := v.Type().(*types.Pointer); ok && isNamed(p.Elem(), wfPath, "Queue") {
			fs = append(fs, found{&model.Queue{Var: name}, pkg.Fset.Position(v.Pos())})
		}
	}
	slices.SortFunc(fs, func(a, b found) int { return comparePos(a.pos, b.pos) })
	qs := make([]*model.Queue, len(fs))
	for i, f := range fs {
		qs[i] = f.q
	}
	return qs
}

// checkCollisions reports generated identifiers that collide with the package's own
// declarations or with each other.
func (b *builder) checkCollisions(pkg *packages.Package, m *model.Package, found []*annotated) {
	scope := pkg.Types.Scope()
	declPos := map[string]token.Pos{}
	for _, a := range found {
		declPos[a.decl.Name.Name] = a.decl.Name.Pos()
	}
	taken := map[string]string{}
	check := func(what, fn string, names []string) {
		for _, name := range names {
			if obj := scope.Lookup(name); obj != nil {
				p := pkg.Fset.Position(obj.Pos())
				b.sink.at(declPos[fn], "%s: the generated %s collides with %s declared at %s:%d: rename one of them", what, name, name, filepath.Base(p.Filename), p.Line)
			}
			if prev, dup := taken[name]; dup {
				b.sink.at(declPos[fn], "%s: the generated %s collides with the %s generated for %s: rename one of the functions", what, name, name, prev)
			}
			taken[name] = what
		}
	}
	for _, w := range m.Workflows {
		check("workflow "+w.Func, w.Func, w.GeneratedNames())
	}
	for _, s := range m.Steps {
		check("step "+s.Func, s.Func, s.GeneratedNames())
	}
	if obj := scope.Lookup(model.RegisterFunc); obj != nil {
		b.sink.at(obj.Pos(), "%s collides with the %s function wfgen generates for this package's annotations: rename it", model.RegisterFunc, model.RegisterFunc)
	}
}

// receiver checks the receiver of a method step, which must be a pointer to a named,
// non-generic type of the package, and records it.
func (b *builder) receiver(s *model.Step, decl *ast.FuncDecl, sig *types.Signature, q types.Qualifier) bool {
	recv := sig.Recv()
	if recv == nil {
		return true
	}
	pos := decl.Recv.List[0].Type.Pos()
	what := "step " + decl.Name.Name
	if sig.RecvTypeParams().Len() > 0 {
		b.sink.at(pos, "%s: the receiver's type is generic: Register takes one value per receiver type, so it must be a concrete type", what)
		return false
	}
	ptr, isPtr := types.Unalias(recv.Type()).(*types.Pointer)
	if !isPtr {
		t := types.TypeString(recv.Type(), q)
		b.sink.at(pos, "%s: the receiver is %s, must be a pointer (*%s): Register takes one *%s, which every call of the package's steps shares", what, t, t, t)
		return false
	}
	named, _ := types.Unalias(ptr.Elem()).(*types.Named)
	if named == nil {
		b.sink.at(pos, "%s: the receiver must be a pointer to a named type of the package", what)
		return false
	}
	s.Recv = &model.Dep{Type: named.Obj().Name()}
	return true
}

// txParam checks that a transactional step takes a pgx.Tx after its context, and that
// another step does not, and returns the index of the first parameter the workflow passes.
func (b *builder) txParam(s *model.Step, ft *ast.FuncType, sig *types.Signature, q types.Qualifier, want string) (int, bool) {
	params := fieldPositions(ft.Params, ft.Params.Closing)
	n := sig.Params().Len()
	second := func() types.Type { return sig.Params().At(1).Type() }
	what := "step " + s.Func
	switch {
	case !s.Tx && n >= 2 && isNamed(second(), pgxPath, "Tx"):
		b.sink.at(params[1], "%s: takes a pgx.Tx, which no workflow can pass: annotate it //wf:step tx, and the runtime runs it in a transaction that commits its checkpoint too", what)
		return 1, false
	case !s.Tx:
		return 1, true
	case n < 2:
		b.sink.at(ft.Params.Closing, "%s: wrong signature: a tx step takes the transaction (pgx.Tx) after its context.Context; %s", what, want)
		return 1, false
	case !isNamed(second(), pgxPath, "Tx"):
		b.sink.at(params[1], "%s: wrong signature: the second parameter is %s, must be pgx.Tx (the step's transaction, which commits its checkpoint too); %s", what, types.TypeString(second(), q), want)
		return 2, false
	}
	return 2, true
}

// deps returns the receiver types of the method steps, in the order of their first step,
// each with the name of its parameter of Register, and points each step at its type's.
func deps(steps []*model.Step, reserved map[string]bool) []*model.Dep {
	var ds []*model.Dep
	byType := map[string]*model.Dep{}
	used := map[string]bool{}
	for _, s := range steps {
		if s.Recv == nil {
			continue
		}
		d, ok := byType[s.Recv.Type]
		if !ok {
			d = &model.Dep{Type: s.Recv.Type, Param: model.DepParam(s.Recv.Type)}
			for n := 2; reserved[d.Param] || used[d.Param] || d.Param == "c"; n++ { // c is the client
				d.Param = model.DepParam(s.Recv.Type) + strconv.Itoa(n)
			}
			used[d.Param] = true
			byType[d.Type] = d
			ds = append(ds, d)
		}
		s.Recv = d
	}
	return ds
}
