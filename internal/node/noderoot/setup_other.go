//go:build !linux

package noderoot

import "errors"

// Setup needs Linux namespaces; elsewhere it only validates and refuses.
func Setup(o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	return errors.New("noderoot: needs Linux")
}
