# bproc: one static binary, busybox-style applets.
GO      ?= go
APPLETS := bpcp bpctl bpmaster bpslave bpsh bpstat
SOURCES := $(shell find . -name '*.go' -not -path './bin/*') go.mod go.sum $(wildcard ghost/*.bin)
export CGO_ENABLED := 0

.PHONY: all test check fmt vet demo bench clean ghost-stub

all: bin/bproc $(addprefix bin/,$(APPLETS))

bin/bproc: $(SOURCES)
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '-s -w' -o $@ .

$(addprefix bin/,$(APPLETS)): bin/bproc
	ln -sf bproc $@

# The ghost stub is C (a Go process is 600 kB; a ghost must cost a few kB).
# Its binary is committed so that go build needs no C compiler; this rebuilds it.
ghost-stub:
	$(GO) generate ./ghost/

# Every test: unit, fuzz seeds, and integration tests that start a real
# master with namespace nodes (those need root and skip without it).
test: all
	BPROC_BIN=$(CURDIR)/bin/bproc $(GO) test -count=1 -timeout 20m ./...

fmt:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

check: fmt vet test

# A master with 4 namespace nodes, a few commands, then everything stopped.
demo: all
	./demo.sh

bench: all
	BPROC_BIN=$(CURDIR)/bin/bproc $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./ghost/ ./bench/

clean:
	rm -rf bin
