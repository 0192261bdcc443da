package embedpg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindBinariesSaysWhatToInstallWhenThereAreNone(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := searchGlobs
	searchGlobs = []string{filepath.Join(t.TempDir(), "*", "bin", "initdb")}
	t.Cleanup(func() { searchGlobs = saved })

	_, err := FindBinaries()
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("FindBinaries() = %v, want ErrNoBinaries", err)
	}
	for _, want := range []string{"apt-get install -y postgresql", "brew install postgresql@", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestFindBinariesPrefersTheNewestInstall(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"postgresql@9", "postgresql@16", "postgresql@15"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"initdb", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, name), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("PATH", t.TempDir())
	saved := searchGlobs
	searchGlobs = []string{filepath.Join(root, "postgresql@*", "bin", "initdb")}
	t.Cleanup(func() { searchGlobs = saved })

	dir, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "postgresql@16", "bin"); dir != want {
		t.Errorf("FindBinaries() = %s, want %s", dir, want)
	}
}

func TestVersions(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]int{
		"/usr/lib/postgresql/16/bin/initdb":                          16,
		"/opt/homebrew/opt/postgresql@17/bin/initdb":                 17,
		"/usr/pgsql-15/bin/initdb":                                   15,
		"/Applications/Postgres.app/Contents/Versions/14/bin/initdb": 14,
		"/usr/local/bin/initdb":                                      0,
	} {
		if got := versionOf(path); got != want {
			t.Errorf("versionOf(%s) = %d, want %d", path, got, want)
		}
	}
	for out, want := range map[string]string{
		"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n": "15",
		"postgres (PostgreSQL) 17.2\n":                           "17",
		"something else":                                         "",
	} {
		if got := majorOf(out); got != want {
			t.Errorf("majorOf(%q) = %q, want %q", out, got, want)
		}
	}
}

func TestAKeptFolderMustBeEmptyOrHoldAClusterOfTheBinariesVersion(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "postgres"), []byte("#!/bin/sh\necho 'postgres (PostgreSQL) 16.4'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()

	missing := filepath.Join(root, "a", "pg")
	if fresh, err := prepareDir(missing, bin); err != nil || !fresh {
		t.Fatalf("missing folder: fresh=%v err=%v, want a fresh cluster", fresh, err)
	}
	if fresh, err := prepareDir(missing, bin); err != nil || !fresh {
		t.Fatalf("empty folder: fresh=%v err=%v, want a fresh cluster", fresh, err)
	}

	cluster := filepath.Join(root, "cluster")
	if err := os.Mkdir(cluster, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cluster, "PG_VERSION"), []byte("16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fresh, err := prepareDir(cluster, bin); err != nil || fresh {
		t.Fatalf("cluster of the same version: fresh=%v err=%v, want it started as is", fresh, err)
	}
	if err := os.WriteFile(filepath.Join(cluster, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareDir(cluster, bin); err == nil || !strings.Contains(err.Error(), "use PostgreSQL 15's binaries") {
		t.Fatalf("cluster of another version: err=%v, want one that says which binaries to use", err)
	}

	other := filepath.Join(root, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareDir(other, bin); err == nil || !strings.Contains(err.Error(), "holds no PostgreSQL cluster") {
		t.Fatalf("folder with other files: err=%v, want a refusal", err)
	}
}
