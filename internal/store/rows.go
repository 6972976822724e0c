package store

import (
	"context"
	"database/sql"
)

// row is what a scan function reads: a *sql.Row or *sql.Rows.
type row = interface{ Scan(...any) error }

// queryAll runs a query and scans every row it answers with scan, in order.
func queryAll[T any](ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, scan func(row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
