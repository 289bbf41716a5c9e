# bproc: one static binary, busybox-style applets.
GO      ?= go
# The applets users run by name: main.go's table, those with Link (main_test.go
# holds the two equal).
APPLETS := bpcp bpctl bpmaster bpslave bpsh bpstat
SOURCES := $(shell find . -name '*.go' -not -path './bin/*') go.mod go.sum $(wildcard internal/shared/ghost/*.bin)
export CGO_ENABLED := 0

.PHONY: all test check fmt vet demo bench clean ghost-stub cluster cluster-down vmtest install uninstall libbproc-test

all: bin/bproc $(addprefix bin/,$(APPLETS)) bin/libbproc.a bin/libbproc.so

bin/bproc: $(SOURCES)
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '-s -w' -o $@ .

$(addprefix bin/,$(APPLETS)): bin/bproc
	ln -sf bproc $@

# libbproc: BProc's calls for C programs (libbproc/bproc.h), talking to
# bpmaster over its socket. One set of position-independent objects serves
# both the static and the shared library.
LIBBPROC_SRC    := $(wildcard libbproc/*.c)
LIBBPROC_OBJ    := $(LIBBPROC_SRC:libbproc/%.c=bin/obj/libbproc/%.o)
LIBBPROC_CFLAGS := -std=c11 -Wall -Wextra -fPIC
CFLAGS          ?= -O2 -g

bin/obj/libbproc/%.o: libbproc/%.c $(wildcard libbproc/*.h)
	@mkdir -p $(@D)
	$(CC) $(LIBBPROC_CFLAGS) $(CFLAGS) -c -o $@ $<

bin/libbproc.a: $(LIBBPROC_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

bin/libbproc.so.1: $(LIBBPROC_OBJ)
	$(CC) -shared -Wl,-soname,libbproc.so.1 $(LDFLAGS) -o $@ $^

bin/libbproc.so: bin/libbproc.so.1
	ln -sf libbproc.so.1 $@

# libbproc's own tests under AddressSanitizer and UBSan: replies good and
# malformed from a fake master, and a fuzz loop over the JSON decoder.
# (go test ./internal/integration runs them too.)
libbproc-test:
	@mkdir -p bin/obj
	$(CC) $(LIBBPROC_CFLAGS) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -pthread \
		-Ilibbproc -o bin/obj/libbproc-test libbproc/test/unit.c $(LIBBPROC_SRC)
	bin/obj/libbproc-test

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 bin/bproc $(DESTDIR)$(BINDIR)/bproc
	for a in $(APPLETS); do ln -sf bproc $(DESTDIR)$(BINDIR)/$$a; done
	install -m 0644 bin/libbproc.a $(DESTDIR)$(LIBDIR)/libbproc.a
	install -m 0755 bin/libbproc.so.1 $(DESTDIR)$(LIBDIR)/libbproc.so.1
	ln -sf libbproc.so.1 $(DESTDIR)$(LIBDIR)/libbproc.so
	install -m 0644 libbproc/bproc.h libbproc/move.h $(DESTDIR)$(INCLUDEDIR)/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bproc $(addprefix $(DESTDIR)$(BINDIR)/,$(APPLETS))
	rm -f $(DESTDIR)$(LIBDIR)/libbproc.a $(DESTDIR)$(LIBDIR)/libbproc.so $(DESTDIR)$(LIBDIR)/libbproc.so.1
	rm -f $(DESTDIR)$(INCLUDEDIR)/bproc.h $(DESTDIR)$(INCLUDEDIR)/move.h

# The ghost stub is C (a Go process is 600 kB; a ghost must cost a few kB).
# Its binary is committed so that go build needs no C compiler; this rebuilds it.
ghost-stub:
	$(GO) generate ./internal/shared/ghost/

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
	BPROC_BIN=$(CURDIR)/bin/bproc $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/shared/ghost/ ./internal/bench/
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
