# bproc: one static binary, busybox-style applets.
GO      ?= go
APPLETS := bpcp bpctl bpmaster bpslave bpsh bpstat
SOURCES := $(shell find . -name '*.go' -not -path './bin/*') go.mod go.sum $(wildcard ghost/*.bin)
export CGO_ENABLED := 0

.PHONY: all test check fmt vet demo bench clean ghost-stub cluster cluster-down vmtest

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
	$(CLUSTER_CMD) deps
	VMTEST=1 BPROC_BIN=$(CURDIR)/bin/bproc $(GO) test -run '^$$' -bench Boot -benchtime 1x -timeout 15m ./testvm/

# QEMU nodes that network-boot from bpmaster, on a bridge inside a network
# namespace of their own (testvm/). Needs root; installs qemu-system-x86,
# ipxe-qemu and linux-image-cloud-amd64 if missing.
NODES       ?= 4
CLUSTER     ?= bproc-cluster
CLUSTER_DIR ?= /run/$(CLUSTER)
CLUSTER_CMD := $(GO) run ./testvm/cmd/cluster

cluster: all
	$(CLUSTER_CMD) up --nodes $(NODES) --name $(CLUSTER) --dir $(CLUSTER_DIR) --bin $(CURDIR)/bin/bproc

# Stops every VM and the master, removes taps, bridge and namespace; safe
# to run twice and after a crash.
cluster-down:
	$(CLUSTER_CMD) down --name $(CLUSTER) --dir $(CLUSTER_DIR)

# Two VM nodes end to end: boot, bpsh, reboot, an unknown MAC. A few minutes.
vmtest: all
	$(CLUSTER_CMD) deps
	VMTEST=1 BPROC_BIN=$(CURDIR)/bin/bproc $(GO) test -count=1 -v -timeout 15m -run '^TestVM$$' ./testvm/

clean:
	rm -rf bin
