package analyze

import (
	"go/ast"
	"go/token"
	"go/types"
	"slices"

	"golang.org/x/tools/go/packages"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// channelKinds maps the runtime's generic channel types to their kinds, and says which
// of their methods a workflow calls on the channels it owns: the workflow that sets an
// event, receives from a topic or appends to a stream is the one whose handle gets the
// channel's typed accessors.
var channelKinds = map[string]struct {
	kind  model.ChannelKind
	owner []string
}{
	"Event":  {model.Event, []string{"Set"}},
	"Topic":  {model.Topic, []string{"Recv"}},
	"Stream": {model.Stream, []string{"Append", "Close"}},
}

// channels returns the package-level *wf.Event, *wf.Topic and *wf.Stream variables, in
// source order, reporting those whose values cannot be stored.
func (b *builder) channels(pkg *packages.Package, q types.Qualifier) []*model.Channel {
	type found struct {
		c   *model.Channel
		pos token.Position
	}
	var fs []found
	scope := pkg.Types.Scope()
	for _, name := range scope.Names() {
		v, ok := scope.Lookup(name).(*types.Var)
		if !ok || name == "_" {
			continue
		}
		kind, elem, ok := channelType(v.Type())
		if !ok {
			continue
		}
		what := map[model.ChannelKind]string{model.Event: "event", model.Topic: "topic", model.Stream: "stream"}[kind] + " " + name
		if !b.storable(what, "value", elem, v.Pos(), q) {
			continue
		}
		fs = append(fs, found{&model.Channel{Var: name, Kind: kind, Elem: elem}, pkg.Fset.Position(v.Pos())})
	}
	slices.SortFunc(fs, func(a, b found) int { return comparePos(a.pos, b.pos) })
	cs := make([]*model.Channel, len(fs))
	for i, f := range fs {
		cs[i] = f.c
	}
	return cs
}

// channelType reports whether t is *wf.Event[T], *wf.Topic[T] or *wf.Stream[T].
func channelType(t types.Type) (kind model.ChannelKind, elem types.Type, ok bool) {
	p, isPtr := types.Unalias(t).(*types.Pointer)
	if !isPtr {
		return 0, nil, false
	}
	n, isNamed := types.Unalias(p.Elem()).(*types.Named)
	if !isNamed || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() != wfPath || n.TypeArgs().Len() != 1 {
		return 0, nil, false
	}
	k, known := channelKinds[n.Obj().Name()]
	if !known {
		return 0, nil, false
	}
	return k.kind, n.TypeArgs().At(0), true
}

// ownedChannels returns the channels of cs that the workflow declared by decl, or a
// function of its package that it calls (decls), sets, receives from or appends to.
func ownedChannels(info *types.Info, decl *ast.FuncDecl, decls map[*types.Func]*ast.FuncDecl, cs []*model.Channel) (events, topics, streams []*model.Channel) {
	byVar := map[string]*model.Channel{}
	for _, c := range cs {
		byVar[c.Var] = c
	}
	owned := map[*model.Channel]bool{}
	seen := map[*ast.FuncDecl]bool{decl: true}
	queue := []*ast.FuncDecl{decl}
	for len(queue) > 0 {
		fd := queue[0]
		queue = queue[1:]
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				x, ok := n.X.(*ast.Ident)
				if !ok {
					break
				}
				v, ok := info.Uses[x].(*types.Var)
				if !ok || v.Parent() != v.Pkg().Scope() {
					break
				}
				if c := byVar[v.Name()]; c != nil && slices.Contains(ownerMethods(c.Kind), n.Sel.Name) {
					owned[c] = true
				}
			case *ast.Ident:
				if fn, ok := info.Uses[n].(*types.Func); ok {
					if callee := decls[fn.Origin()]; callee != nil && !seen[callee] {
						seen[callee] = true
						queue = append(queue, callee)
					}
				}
			}
			return true
		})
	}
	for _, c := range cs {
		if !owned[c] {
			continue
		}
		switch c.Kind {
		case model.Event:
			events = append(events, c)
		case model.Topic:
			topics = append(topics, c)
		case model.Stream:
			streams = append(streams, c)
		}
	}
	return events, topics, streams
}

func ownerMethods(k model.ChannelKind) []string {
	for _, ck := range channelKinds {
		if ck.kind == k {
			return ck.owner
		}
	}
	return nil
}
