package pipeline

import (
	"context"
	"embed"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wfgen/wfgen/examples/pipeline/db"
)

// DefaultSchema is the PostgreSQL schema of the application's tables unless told otherwise.
const DefaultSchema = "pipeline"

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Connect opens a pool on url whose connections find the application's tables in schema
// (their search_path), as the sqlc queries expect.
func Connect(ctx context.Context, url, schema string) (*pgxpool.Pool, error) {
	if !schemaName.MatchString(schema) {
		return nil, fmt.Errorf("pipeline: schema %q: use lower-case letters, digits and underscores", schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pipeline: DATABASE_URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on a 2-core machine) is too small for a worker: the runtime
		// keeps one connection to listen on, renews its lease on another, claims and
		// checkpoints, while the steps query. A starved heartbeat loses the lease.
		cfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pipeline: connecting to PostgreSQL: %w", err)
	}
	return pool, nil
}

//go:embed schema/*.sql
var migrations embed.FS

// Migrate creates the application's schema and tables unless they exist. Every process may
// call it at start: concurrent calls take turns on an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("pipeline: schema %q: use lower-case letters, digits and underscores", schema)
	}
	files, err := migrations.ReadDir("schema")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('wfgen pipeline migrations ' || $1))", schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return fmt.Errorf("pipeline: creating schema %s: %w", schema, err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
			return err
		}
		for _, f := range files {
			sql, err := migrations.ReadFile("schema/" + f.Name())
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("pipeline: migration %s: %w", f.Name(), err)
			}
		}
		return nil
	})
}

// DataEnd is the end of the generated events: they span the DataDays days before it, and
// the default baseline date is DataEnd.
var DataEnd = time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)

// DataDays is how many days of events Generate makes.
const DataDays = 120

// DefaultClients is how many clients Generate makes unless told otherwise.
const DefaultClients = 8

// Dataset is the generated data of some clients.
type Dataset struct {
	Clients []db.Client
	Events  []db.CopyEventsParams
	Objects []GeneratedObject
}

// GeneratedObject is an object of the store, created Age before the data is loaded.
type GeneratedObject struct {
	Key       string
	ClientID  int64
	Kind      string // "tmp" or "export"
	SizeBytes int64
	Age       time.Duration
}

// Candidate reports whether a cleanup that runs at most an hour after the data was loaded
// deletes the object.
func (o GeneratedObject) Candidate() bool {
	return o.Kind == "tmp" && o.Age > CleanupAge+time.Hour
}

// Generate makes the data of clients 1 to n: a few thousand events per client on its
// channels (every client has email, every other one landing pages too), and a dozen objects
// per client in the store. The same n gives the same data, byte for byte.
func Generate(n int) Dataset {
	var d Dataset
	for id := int64(1); id <= int64(n); id++ {
		r := rand.New(rand.NewPCG(uint64(id), 0x5eed))
		c := db.Client{ID: id, Name: clientNames[(id-1)%int64(len(clientNames))], Channels: []string{ChannelEmail}}
		if id%2 == 0 {
			c.Channels = append(c.Channels, ChannelLandingPage)
		}
		d.Clients = append(d.Clients, c)
		contacts := 60 + r.IntN(60)
		for contact := int64(1); contact <= int64(contacts); contact++ {
			engagement := r.Float64() // how keen this contact is
			for _, ch := range c.Channels {
				d.Events = append(d.Events, contactEvents(r, id, ch, contact, engagement)...)
			}
		}
		for i := range 12 {
			o := GeneratedObject{ClientID: id, SizeBytes: 1024 + r.Int64N(1<<20)}
			switch {
			case i < 4: // fresh temporary files: not candidates
				o.Kind, o.Age = "tmp", time.Duration(r.Int64N(int64(20*time.Hour)))
			case i < 9: // old temporary files: candidates
				o.Kind, o.Age = "tmp", 26*time.Hour+time.Duration(r.Int64N(int64(30*24*time.Hour)))
			default: // exports, old and new, never deleted
				o.Kind, o.Age = "export", time.Duration(r.Int64N(int64(60*24*time.Hour)))
			}
			o.Key = fmt.Sprintf("client-%03d/%s/%02d.csv", id, o.Kind, i)
			d.Objects = append(d.Objects, o)
		}
	}
	sort.Slice(d.Objects, func(i, j int) bool { return d.Objects[i].Key < d.Objects[j].Key })
	return d
}

var clientNames = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne"}

// contactEvents makes one contact's events on one channel: email sends every week or so,
// opened and clicked as keen as the contact is; or landing page visits and signups; and
// purchases after some clicks and signups.
func contactEvents(r *rand.Rand, client int64, channel string, contact int64, engagement float64) []db.CopyEventsParams {
	var out []db.CopyEventsParams
	add := func(kind string, at time.Time, cents int64) {
		out = append(out, db.CopyEventsParams{ClientID: client, Channel: channel, Kind: kind, ContactID: contact, AmountCents: cents, OccurredAt: at})
	}
	start := DataEnd.AddDate(0, 0, -DataDays)
	// Keen contacts stay until the end; the others stop at some point.
	active := time.Duration(float64(DataDays*24*time.Hour) * (0.3 + 0.7*engagement))
	buy := func(at time.Time, p float64) {
		if r.Float64() < p {
			add("purchase", at.Add(time.Duration(r.IntN(48))*time.Hour), 500+r.Int64N(20000))
		}
	}
	switch channel {
	case ChannelEmail:
		for t := start.Add(time.Duration(r.IntN(7*24)) * time.Hour); t.Sub(start) < active; t = t.Add(time.Duration(5*24+r.IntN(5*24)) * time.Hour) {
			add("sent", t, 0)
			if r.Float64() < 0.2+0.6*engagement {
				opened := t.Add(time.Duration(1+r.IntN(24)) * time.Hour)
				add("open", opened, 0)
				if r.Float64() < 0.1+0.4*engagement {
					add("click", opened.Add(time.Duration(r.IntN(60))*time.Minute), 0)
					buy(opened, 0.15+0.3*engagement)
				}
			}
		}
	case ChannelLandingPage:
		for t := start.Add(time.Duration(r.IntN(10*24)) * time.Hour); t.Sub(start) < active; t = t.Add(time.Duration(7*24+r.IntN(10*24)) * time.Hour) {
			add("visit", t, 0)
			if r.Float64() < 0.1+0.4*engagement {
				add("signup", t.Add(time.Duration(r.IntN(30))*time.Minute), 0)
				buy(t, 0.2+0.3*engagement)
			}
		}
	}
	return out
}

// Load stores d unless its clients are stored already (then it changes nothing), with the
// objects' creation times counted back from now. It reports whether it stored anything.
func Load(ctx context.Context, pool *pgxpool.Pool, d Dataset, now time.Time) (bool, error) {
	loaded := false
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := q.LockLoad(ctx); err != nil {
			return err
		}
		existing, err := q.ListClients(ctx)
		if err != nil || len(existing) > 0 {
			return err
		}
		for _, c := range d.Clients {
			if _, err := q.InsertClient(ctx, db.InsertClientParams(c)); err != nil {
				return err
			}
		}
		if _, err := q.CopyEvents(ctx, d.Events); err != nil {
			return fmt.Errorf("pipeline: loading events: %w", err)
		}
		objects := make([]db.CopyObjectsParams, len(d.Objects))
		for i, o := range d.Objects {
			objects[i] = db.CopyObjectsParams{Key: o.Key, ClientID: o.ClientID, Kind: o.Kind, SizeBytes: o.SizeBytes, CreatedAt: now.Add(-o.Age)}
		}
		if _, err := q.CopyObjects(ctx, objects); err != nil {
			return fmt.Errorf("pipeline: loading objects: %w", err)
		}
		loaded = true
		return nil
	})
	return loaded, err
}
