package wfgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wfgen/wfgen/internal/wfgen/analyze"
	"github.com/wfgen/wfgen/internal/wfgen/load"
	"github.com/wfgen/wfgen/internal/wfgen/model"
	"github.com/wfgen/wfgen/templates"
)

// Config is what to generate code for.
type Config struct {
	Dir      string   // the directory patterns are relative to; empty means the current one
	Env      []string // the go command's environment; nil means this process's
	Patterns []string // package patterns, as for go build; none means "."
}

// File is one change to the file system: a wf_gen.go to write, or one to remove.
type File struct {
	Path    string // absolute
	Content []byte // nil for a removal
}

// Result is the outcome of a generation.
type Result struct {
	// Files holds a wf_gen.go for each package with annotations, and a removal for each
	// stale wf_gen.go of a package that has none any more, sorted by path.
	Files []File
	// Timings says where the time went.
	Timings Timings
}

// Timings is the time spent in each phase of a generation.
type Timings struct {
	Load    time.Duration // packages.Load: go list, parsing, type-checking
	Analyze time.Duration // annotations, validation, code hashes
	Render  time.Duration // jennifer
	Format  time.Duration // gofmt
}

// ErrNoPackages reports patterns that matched no package.
var ErrNoPackages = errors.New("no packages matched")

// Generate computes the generated files of the packages cfg names, without writing
// anything. Mistakes in user code are returned as a *diag.Error listing all of them; then
// no file is returned, so that a run either generates everything or changes nothing.
func Generate(cfg Config) (*Result, error) {
	patterns := cfg.Patterns
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	var r Result
	start := time.Now()
	fset, pkgs, err := load.Packages(load.Config{Dir: cfg.Dir, Env: cfg.Env}, patterns...)
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%w %s", ErrNoPackages, strings.Join(patterns, " "))
	}
	r.Timings.Load = time.Since(start)

	start = time.Now()
	analysis := analyze.Packages(fset, pkgs)
	r.Timings.Analyze = time.Since(start)
	if err := analysis.Diags.Err(); err != nil {
		return nil, err
	}

	for _, p := range analysis.Packages {
		path := filepath.Join(p.Dir, model.GeneratedFile)
		switch {
		case p.Broken:
			// Not analyzed (its problem was reported if it mattered): leave it be.
		case p.Model != nil:
			start = time.Now()
			src, err := templates.Source(p.Model)
			r.Timings.Render += time.Since(start)
			if err != nil {
				return nil, err
			}
			start = time.Now()
			out, err := templates.Format(src)
			r.Timings.Format += time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Path, err)
			}
			r.Files = append(r.Files, File{Path: path, Content: out})
		case p.Stale:
			r.Files = append(r.Files, File{Path: path})
		}
	}
	slices.SortFunc(r.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return &r, nil
}

// Write applies the changes, touching only the files whose content changes (so that
// build caches and editors see no change when there is none). It returns the files it
// changed.
func Write(files []File) ([]File, error) {
	var changed []File
	for _, f := range files {
		switch fresh, err := upToDate(f); {
		case err != nil:
			return changed, err
		case fresh:
			continue
		}
		if f.Content == nil {
			if err := os.Remove(f.Path); err != nil {
				return changed, fmt.Errorf("removing stale generated file: %w", err)
			}
		} else if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
			return changed, fmt.Errorf("writing generated file: %w", err)
		}
		changed = append(changed, f)
	}
	return changed, nil
}

// Stale returns the files on disk that differ from what Generate computed.
func Stale(files []File) ([]File, error) {
	var stale []File
	for _, f := range files {
		fresh, err := upToDate(f)
		if err != nil {
			return nil, err
		}
		if !fresh {
			stale = append(stale, f)
		}
	}
	return stale, nil
}

// upToDate reports whether the file on disk is what f says it should be.
func upToDate(f File) (bool, error) {
	old, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return f.Content == nil, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading generated file: %w", err)
	}
	return f.Content != nil && bytes.Equal(old, f.Content), nil
}
