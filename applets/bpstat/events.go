package bpstat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// events prints the master's event stream until interrupted: a line per
// event, or with --json a JSON object per line (one event each, for jq
// and log shippers).
func (c *cli) events(ctx context.Context, client *apiclient.Client, w io.Writer) error {
	enc := json.NewEncoder(w)
	err := client.Events(ctx, func(ev localapi.ClusterEvent) error {
		if c.JSON {
			return enc.Encode(ev)
		}
		_, err := fmt.Fprintln(w, eventLine(ev))
		return err
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// eventLine is one event as bpstat --events prints it.
func eventLine(ev localapi.ClusterEvent) string {
	t := ev.Time.Local().Format(time.DateTime)
	switch ev.Kind {
	case localapi.EventNode:
		s := fmt.Sprintf("%s  node %d  %s -> %s", t, ev.Node, ev.From, ev.State)
		if ev.Reason != "" {
			s += "  (" + ev.Reason + ")"
		}
		return s
	case localapi.EventStart:
		return fmt.Sprintf("%s  node %d  start  pid %d  uid %d", t, ev.Node, ev.PID, ev.UID)
	case localapi.EventExit:
		how := "never ran"
		switch {
		case ev.Status != nil && ev.Started && ev.Status.Signal != 0:
			how = fmt.Sprintf("killed by signal %d", ev.Status.Signal)
		case ev.Status != nil && ev.Started:
			how = fmt.Sprintf("exit %d", ev.Status.Code)
		}
		if ev.Error != "" {
			how += ": " + ev.Error
		}
		return fmt.Sprintf("%s  node %d  exit   pid %d  uid %d  %s", t, ev.Node, ev.PID, ev.UID, how)
	}
	return fmt.Sprintf("%s  %s", t, ev.Kind)
}
