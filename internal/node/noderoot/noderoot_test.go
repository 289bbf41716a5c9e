package noderoot

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Options{Hostname: "n3", Binary: "/usr/local/bin/bproc", MasterView: true}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string // "" means valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"tmp size", func(o *Options) { o.TmpSize = "256m" }, ""},
		{"no hostname", func(o *Options) { o.Hostname = "" }, "empty hostname"},
		{"long hostname", func(o *Options) { o.Hostname = strings.Repeat("n", 65) }, "longer than 64"},
		{"slash in hostname", func(o *Options) { o.Hostname = "n/3" }, "contains a slash"},
		{"no binary", func(o *Options) { o.Binary = "" }, "no binary"},
		{"option in tmp size", func(o *Options) { o.TmpSize = "1m,exec" }, "contains a comma"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			err := o.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validate(%+v) = %v, want nil", o, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("validate(%+v) = %v, want error containing %q", o, err, tt.wantErr)
			}
		})
	}
}

func TestTmpSizeDefault(t *testing.T) {
	if got := (Options{}).tmpSize(); got != DefaultTmpSize {
		t.Errorf("tmpSize() = %q, want %q", got, DefaultTmpSize)
	}
}
