package bpstat

import (
	"context"
	"fmt"
	"io"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\033[H\033[2J"

// watch redraws the table now and on every change of the node table, until
// ctx ends or the master goes away.
func (c *cli) watch(ctx context.Context, client *apiclient.Client, w io.Writer) error {
	table, err := client.Nodes()
	for err == nil && ctx.Err() == nil {
		fmt.Fprint(w, clearScreen)
		if err := c.print(w, table); err != nil {
			return err
		}
		table, err = client.Watch()
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}
