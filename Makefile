# presignd build.
#
#   make            build/presignd
#   make test       install what is missing, build, run every test
#   make run        local S3 + presignd on etc/presignd.dev.yaml, foreground
#   make bench      benchmarks (prints figures, asserts nothing)
#   make install    PREFIX=/usr/local DESTDIR=...
#   make dist       build/presignd-VERSION.tar.gz (binary tarball, other distributions)
#   make deb        build/presignd_VERSION-1_ARCH.deb (Debian package, debian/)
#   make fleet      the simulated EC2 fleet behind a load balancer (root; minutes)
#   make fuzz       the libFuzzer harnesses of tests/fuzz (clang; FUZZ_SECONDS, FUZZ_TARGETS)
#   make soak       reloads under mixed load, ASan build, S3 faults; RSS and fd growth (minutes)
#   make vendor-docs  check daemon/vendor/ (Swagger UI, ReDoc) against npm
#
# Sources are picked up by wildcard: common/*.c becomes build/libpresignd.a,
# daemon/*.c links against it into build/presignd, tests/unit/test_*.c each
# become a cmocka binary. BUILD=build/asan gives the sanitizer flavour.

VERSION   := 1.0.0
PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR   ?= /lib/systemd/system
MANDIR    ?= $(PREFIX)/share/man

CC        ?= cc
BUILD     ?= build
SANITIZE  ?=
PYTHON    ?= /usr/bin/python3

PKGS      := libevent libevent_openssl libcurl libssl libcrypto yaml-0.1 json-c uuid expat

# The libraries' flags come from pkg-config, which knows them only once
# scripts/bootstrap has installed the -dev packages. So they are not read
# when make starts: build/pkg.mk is a makefile with a rule of its own (run
# the bootstrap, then ask pkg-config), and GNU make remakes an included
# makefile, and reads it again, before it builds anything else. Every goal
# that compiles therefore works as the first command on a fresh machine.
# PRESIGND_BOOTSTRAP=no never installs anything (a package build, whose
# Build-Depends are the build dependencies).
.DEFAULT_GOAL := all
PRESIGND_BOOTSTRAP ?= yes
PKG_MK    := build/pkg.mk
# deb compiles too, but in its own copy of the tree (see the deb target).
NO_BUILD_GOALS := clean uninstall bootstrap lint deb vendor-docs
ifneq ($(filter-out $(NO_BUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(PKG_MK)
endif

$(PKG_MK): Makefile scripts/bootstrap
	@mkdir -p $(dir $@)
	@if [ "$(PRESIGND_BOOTSTRAP)" != no ]; then scripts/bootstrap build; fi
	@set -e; \
	  cflags=$$(pkg-config --cflags $(PKGS)); libs=$$(pkg-config --libs $(PKGS)); \
	  { echo "# written by make from pkg-config; remove to read again"; \
	    echo "PKG_CFLAGS := $$cflags"; echo "PKG_LIBS := $$libs"; \
	    echo "CMOCKA_CFLAGS := $$(pkg-config --cflags cmocka 2>/dev/null || true)"; \
	    echo "CMOCKA_LIBS := $$(pkg-config --libs cmocka 2>/dev/null || true)"; } > $@.tmp
	@mv $@.tmp $@

WARN      := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS    ?= -O2 -g
# CPPFLAGS: the preprocessor flags of the environment, e.g. dpkg-buildflags'
# -D_FORTIFY_SOURCE=2 in a package build.
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DPRESIGND_VERSION='"$(VERSION)"' $(CPPFLAGS) \
              $(WARN) $(CFLAGS) $(SANITIZE) -Icommon -Idaemon $(PKG_CFLAGS)
ALL_LDFLAGS := $(SANITIZE) $(LDFLAGS)
LIBS      := $(PKG_LIBS) -lm

ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

COMMON_SRC := $(wildcard common/*.c)
DAEMON_SRC := $(wildcard daemon/*.c) $(wildcard daemon/*.S)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
# Files built into the binary by daemon/assets.S (.incbin): the OpenAPI
# document, the documentation pages and Swagger UI and ReDoc (vendored from
# npm, see `make vendor-docs`).
ASSETS     := daemon/openapi.json daemon/docs.html daemon/redoc.html daemon/docs.js \
              daemon/redoc.js daemon/docs.css $(wildcard daemon/vendor/*/*)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
DAEMON_OBJ := $(patsubst %.S,$(BUILD)/obj/%.o,$(DAEMON_SRC:%.c=$(BUILD)/obj/%.o))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LIB        := $(BUILD)/libpresignd.a
# The daemon's modules but main(), for unit tests of daemon/ code.
DLIB       := $(BUILD)/libpresignd-daemon.a
DLIB_OBJ   := $(filter-out $(BUILD)/obj/daemon/main.o,$(DAEMON_OBJ))
Q          ?= @

.PHONY: all test unit unit-asan asan integration run bench install uninstall \
        dist deb clean bootstrap check-config lint fuzz soak tools fleet vendor-docs

all: $(BUILD)/presignd

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/daemon/assets.o: daemon/assets.S $(ASSETS)
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC) $(SANITIZE) -Wa,-I$(CURDIR)/daemon -c $< -o $@

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(DLIB): $(DLIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/presignd: $(DAEMON_OBJ) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(DLIB) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/unit -o $@ $< $(DLIB) $(LIB) $(ALL_LDFLAGS) $(LIBS) $(CMOCKA_LIBS)

# Small helper programs the tests and benchmarks drive (not installed).
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
$(BUILD)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(LIBS)
tools: $(TOOL_BIN)

# The fuzz harnesses without libFuzzer (tests/fuzz/replay.c gives them a
# main): `make unit` replays each one's committed corpus,
# tests/fuzz/corpus/NAME/ (seeds and the inputs that once broke a
# contract), and `make unit-asan` does so under the sanitizers.
FUZZ_REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)
$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) $(DLIB) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE -DPRESIGND_VERSION='"replay"' $(CPPFLAGS) $(CFLAGS) \
	  $(SANITIZE) -Icommon -Idaemon -Itests/fuzz $(PKG_CFLAGS) -o $@ $< tests/fuzz/replay.c \
	  $(DLIB) $(LIB) $(ALL_LDFLAGS) $(LIBS)

-include $(COMMON_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d)

bootstrap:
	@scripts/bootstrap test

# Unit tests: each binary prints cmocka's summary; the vectors for SigV4 and
# JWTs are made at test time by botocore and PyJWT, so the comparison with
# an independent implementation is always live.
unit: $(UNIT_BIN) $(FUZZ_REPLAY_BIN) tools
	@mkdir -p $(BUILD)/tests
	$(PYTHON) tests/unit/sigv4_vectors.py > $(BUILD)/tests/sigv4_vectors.tsv
	$(PYTHON) tests/unit/jwt_vectors.py $(BUILD)/tests/jwt
	@set -e; for t in $(UNIT_BIN); do \
	  echo "== $$t"; \
	  PRESIGND_SRCDIR=$(CURDIR) SIGV4_VECTORS=$(BUILD)/tests/sigv4_vectors.tsv \
	    JWT_VECTORS=$(BUILD)/tests/jwt $$t; \
	done
	@set -e; for t in $(FUZZ_REPLAY_BIN); do \
	  c=tests/fuzz/corpus/$$(basename $$t); \
	  if [ -d $$c ]; then $$t $$c; fi; \
	done

unit-asan:
	$(MAKE) BUILD=build/asan SANITIZE="$(ASAN_FLAGS)" CFLAGS="-O1 -g" unit

asan:
	$(MAKE) BUILD=build/asan SANITIZE="$(ASAN_FLAGS)" CFLAGS="-O1 -g" all tools

check-config: all
	$(BUILD)/presignd -t -c etc/presignd.yaml
	$(BUILD)/presignd -t -c etc/presignd.dev.yaml

# PRESIGND_TEST_STRICT: on a machine scripts/bootstrap prepared, a test
# that finds a tool missing fails instead of skipping (tests/harness.py).
integration: all tools asan
	cd tests && PRESIGND_BIN=$(CURDIR)/$(BUILD)/presignd \
	  PRESIGND_ASAN_BIN=$(CURDIR)/build/asan/presignd \
	  PRESIGND_TOOLS=$(CURDIR)/$(BUILD)/tools PRESIGND_TEST_STRICT=1 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) integration deploy

test: bootstrap
	$(MAKE) all
	$(MAKE) check-config
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) integration

lint:
	@if [ -x scripts/lint ]; then scripts/lint; fi

# Swagger UI and ReDoc (daemon/vendor/): fetch the pinned npm tarballs again
# and check that the files in the tree are exactly theirs (their versions,
# integrity and SHA-256 are in daemon/vendor/PACKAGES and SHA256SUMS). After
# a version change there: scripts/vendor-docs --update.
vendor-docs:
	scripts/vendor-docs

# RUN_CONFIG: another config than etc/presignd.dev.yaml (its s3.endpoint
# must be a local port); RUN_PAGES_PORT: where examples/ is served.
run: all
	@scripts/bootstrap run
	scripts/run-local

# BENCH_ARGS: e.g. "--duration 2 --rounds 1" for a quick look.
bench: all tools
	@scripts/bootstrap bench
	scripts/bench $(BENCH_ARGS)

# FUZZ_SECONDS per harness (default 60); FUZZ_TARGETS: some of tests/fuzz/fuzz_*.
fuzz: all
	@scripts/bootstrap fuzz
	scripts/fuzz $(FUZZ_TARGETS)

# The soak (scripts/soak): RGW behind the fault-injecting proxy, the ASan
# build with 2 workers reloaded 600 times with `presignd -R` under mixed
# load on every route; fails on a failed request, a sanitizer report, or
# RSS or descriptors that grow. Not part of `make test` (10 to 30 minutes).
# SOAK_ARGS: e.g. "--reloads 50" (see scripts/soak --help).
soak: all asan
	@scripts/bootstrap test
	$(PYTHON) scripts/soak --binary build/asan/presignd $(SOAK_ARGS)

# The simulated fleet (scripts/fleet): instances in network namespaces behind
# HAProxy, rolled, killed, cut off from S3 and given new keys under load.
# Not part of `make test`: it needs root and takes a few minutes. Scenario
# 1's "newer build" is the same sources built again with another version
# string, so that every answer says which build gave it. FLEET_ARGS: e.g.
# "--scale 0.5" (see scripts/fleet --help).
FLEET_NEXT_VERSION ?= $(VERSION)+next
fleet: all
	@scripts/bootstrap fleet
	$(MAKE) --no-print-directory BUILD=$(BUILD)/fleet-next VERSION=$(FLEET_NEXT_VERSION) all
	scripts/fleet --binary $(BUILD)/presignd --next-binary $(BUILD)/fleet-next/presignd $(FLEET_ARGS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/presignd \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/presignd $(DESTDIR)$(BINDIR)/presignd
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/presignd/presignd.yaml ]; then \
	  echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/presignd/presignd.yaml"; \
	  install -m 0644 etc/presignd.yaml $(DESTDIR)$(SYSCONFDIR)/presignd/presignd.yaml.dist; \
	else \
	  install -m 0644 etc/presignd.yaml $(DESTDIR)$(SYSCONFDIR)/presignd/presignd.yaml; \
	fi
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/presignd.service \
	  > $(DESTDIR)$(UNITDIR)/presignd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/presignd.service
	install -m 0644 man/presignd.8 $(DESTDIR)$(MANDIR)/man8/presignd.8

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/presignd $(DESTDIR)$(UNITDIR)/presignd.service \
	  $(DESTDIR)$(MANDIR)/man8/presignd.8 \
	  $(DESTDIR)$(SYSCONFDIR)/presignd/presignd.yaml.dist
	@echo "left $(DESTDIR)$(SYSCONFDIR)/presignd/presignd.yaml in place (your configuration)"

# A tarball laid out as the root of an install with PREFIX=/usr/local; the
# Terraform user-data unpacks it into / and enables the unit.
dist: all
	rm -rf $(BUILD)/dist
	$(MAKE) install DESTDIR=$(CURDIR)/$(BUILD)/dist PREFIX=/usr/local
	tar -C $(BUILD)/dist -czf $(BUILD)/presignd-$(VERSION).tar.gz .
	@echo "$(BUILD)/presignd-$(VERSION).tar.gz"

# The Debian package (debian/, debhelper). dpkg-buildpackage writes its
# results beside the source directory and debhelper stages files inside it,
# so it runs in a copy of the tree, build/deb/presignd-VERSION (as if
# unpacked from a source package), never in the checkout itself; the .deb,
# its -dbgsym companion, .buildinfo and .changes are then copied to build/.
# debian/rules sets PRESIGND_BOOTSTRAP=no: the package's Build-Depends, which
# `scripts/bootstrap deb` installs here, are what a package build may use.
# The outer make's flags stay out (a -j jobserver would confuse the inner
# make); DEB_BUILD_OPTIONS=parallel=N sets the build's parallelism instead.
DEB_WORK := build/deb
deb:
	@scripts/bootstrap deb
	@set -e; v=$$(dpkg-parsechangelog -S Version); \
	  if [ "$${v%-*}" != "$(VERSION)" ]; then \
	    echo "make deb: debian/changelog is at $$v but the Makefile at $(VERSION);" \
	      "add a changelog entry first (dch -v $(VERSION)-1)" >&2; exit 1; fi
	rm -rf $(DEB_WORK)
	mkdir -p $(DEB_WORK)/presignd-$(VERSION)
	tar -cf - --exclude=./build --exclude=./.git --exclude=./tests/node_modules \
	  --exclude=./examples/node_modules --exclude=__pycache__ . | \
	  tar -C $(DEB_WORK)/presignd-$(VERSION) -xf -
	cd $(DEB_WORK)/presignd-$(VERSION) && \
	  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  DEB_BUILD_OPTIONS="parallel=$$(nproc) $$DEB_BUILD_OPTIONS" \
	  dpkg-buildpackage -b -us -uc
	@set -e; cd $(DEB_WORK); \
	  files=$$(ls presignd*_$(VERSION)-*.deb presignd_$(VERSION)-*.buildinfo \
	           presignd_$(VERSION)-*.changes); \
	  cp $$files ../; for f in $$files; do echo "build/$$f"; done

clean:
	rm -rf build
