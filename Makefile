# tandem: build, run and test everything.  `make run` and `make test` work on a
# fresh Debian/Ubuntu machine: `make deps` installs what is missing first.

PREFIX      ?= /usr/local
BUILD       ?= build
CC          ?= cc
# Link-time optimisation lets the compiler inline the small calls between the
# frontend's files (benchmark/README.md: about 5% fewer instructions a request).
CFLAGS      ?= -O2 -g -flto=auto
WARN        := -Wall -Wextra
LLHTTP_DIR  ?= /usr/share/llhttp
LLHTTP_INC  ?= /usr/share/include/llhttp
# Only Debian's interpreter sees Debian's python3-* packages; override with
# PYTHON=... if yours can import uvloop and msgpack too.
PYTHON      ?= /usr/bin/python3
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The frameworks the tests host (and compare with their own test clients).
FRAMEWORK_PACKAGES := python3-flask python3-django python3-starlette python3-fastapi \
                      python3-httpx python3-multipart
# The WebSocket clients the tests talk to the frontend with.
WS_CLIENT_PACKAGES := python3-websockets python3-websocket
DEB_PACKAGES := gcc make pkg-config libuv1-dev libmsgpack-dev libcmocka-dev node-llhttp \
                python3 python3-dev python3-uvloop python3-msgpack python3-pytest python3-jinja2 \
                python3-setuptools python3-pip python3-venv python3-yaml python3-watchdog valgrind \
                python3-prometheus-client $(FRAMEWORK_PACKAGES) $(WS_CLIENT_PACKAGES)

CPPFLAGS_ALL := -Iprotocol -Ifrontend/src -I$(LLHTTP_INC) -D_GNU_SOURCE
LIBS         := -luv -lmsgpackc

PROTO_SRC    := protocol/tdm_proto.c
FRONT_SRC    := $(filter-out frontend/src/main.c,$(wildcard frontend/src/*.c))
LLHTTP_SRC   := $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c

FRONT_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(PROTO_SRC) $(FRONT_SRC))

# The backend's C accelerator (backend/ext/_speedups.c with the protocol's codec),
# built next to the package's modules for the interpreter that runs it; the
# backend works without it, slower (backend/tandem/protocol.py).
PY_INCLUDE   = $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_EXT       = $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
SPEEDUPS     = backend/tandem/_speedups$(PY_EXT)
LLHTTP_OBJ   := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(LLHTTP_SRC))

.PHONY: all deps build speedups run test test-c test-python test-e2e test-sanitize test-memcheck test-fuzz fuzz \
        fuzz-build install uninstall clean bench bench-quick bench-static bench-conn-memory soak test-browser

all: build

# Installs exactly the Debian packages tandem needs, and only those missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@$(PYTHON) -c 'import uvloop, msgpack' 2>/dev/null || { \
	  echo "make: $(PYTHON) cannot import uvloop and msgpack; set PYTHON= to an interpreter that can" >&2; exit 1; }

# `make deps` installs files that the rules below name (llhttp's sources in
# /usr/share/llhttp), but a make started before they existed keeps its first look
# at their directory and finds no rule for the llhttp objects. So the targets that
# need the packages run deps first and then build in a second make, which looks
# afresh (and, under -j, starts nothing before deps is done).
build: deps
	@$(MAKE) --no-print-directory $(BUILD)/tandem-frontend speedups

speedups: $(SPEEDUPS)

$(SPEEDUPS): backend/ext/_speedups.c $(PROTO_SRC) protocol/tdm_proto.h
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared -I$(PY_INCLUDE) -Iprotocol -o $@ backend/ext/_speedups.c $(PROTO_SRC) \
	  -lmsgpackc

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -MMD -MP -c $< -o $@

# llhttp's generated sources are third-party: compiled from where Debian puts them, without our warning flags,
# in strict mode (without it, llhttp 8 takes any two bytes after a chunk's data as its CRLF).
$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DLLHTTP_STRICT_MODE=1 -I$(LLHTTP_INC) -c $< -o $@

$(BUILD)/tandem-frontend: $(FRONT_OBJ) $(LLHTTP_OBJ) $(BUILD)/obj/frontend/src/main.o
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# `make bench`'s cheapest possible backend, in C: what the frontend costs alone (benchmark/floor_backend.c).
$(BUILD)/floor-backend: benchmark/floor_backend.c $(BUILD)/obj/protocol/tdm_proto.o
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $^ -lmsgpackc

# C unit tests (cmocka), one binary per test file.
C_TESTS := $(patsubst %.c,$(BUILD)/%,$(wildcard protocol/tests/test_*.c frontend/tests/test_*.c))

$(BUILD)/protocol/tests/%: protocol/tests/%.c $(BUILD)/obj/protocol/tdm_proto.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $^ -lmsgpackc -lcmocka

$(BUILD)/frontend/tests/%: frontend/tests/%.c $(FRONT_OBJ) $(LLHTTP_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $^ $(LIBS) -lcmocka

# The fake client and backend on socketpairs, shared with the HTTP fuzz harness.
FAKE_PEER_OBJ := $(BUILD)/obj/frontend/tests/fake_peer.o
$(BUILD)/frontend/tests/test_http_conn: $(FAKE_PEER_OBJ)
$(BUILD)/frontend/tests/test_ws: $(FAKE_PEER_OBJ)

test-c: deps
	@$(MAKE) --no-print-directory $(C_TESTS)
	@set -e; for t in $(C_TESTS); do echo "== $$t"; $$t; done

# TANDEM_EXPECT_SPEEDUPS: a build that lost the accelerator fails instead of skipping its tests.
test-python: build
	cd backend && TANDEM_EXPECT_SPEEDUPS=1 $(PYTHON) -m pytest -q tests

test-e2e: build
	@$(MAKE) --no-print-directory $(BUILD)/floor-backend
	$(PYTHON) -m pytest -q tests

test: test-c test-python test-e2e test-sanitize test-memcheck test-fuzz

# The C tests again, built with AddressSanitizer and UndefinedBehaviorSanitizer
# in their own build directory; any report fails the run.
SANITIZE_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

# Then the end-to-end suite against a sanitizer build of the frontend: every
# report lands in a file, and any such file fails the run.  Of tests/conform/,
# the mirror kit against tandem's frontend (test_mirror.py) runs too; the
# backend kit (test_conform.py) and the mirror kit against its toy frontend
# (test_mirror_catches.py) are left out: they start no tandem frontend.
SANITIZE_BUILD := $(BUILD)/sanitize

test-sanitize: deps
	$(MAKE) --no-print-directory BUILD=$(SANITIZE_BUILD) CFLAGS="$(SANITIZE_FLAGS)" test-c \
	  $(SANITIZE_BUILD)/tandem-frontend
	rm -rf $(SANITIZE_BUILD)/reports && mkdir -p $(SANITIZE_BUILD)/reports
	ASAN_OPTIONS=log_path=$(CURDIR)/$(SANITIZE_BUILD)/reports/asan \
	UBSAN_OPTIONS=log_path=$(CURDIR)/$(SANITIZE_BUILD)/reports/ubsan:print_stacktrace=1 \
	TANDEM_TEST_FRONTEND=$(SANITIZE_BUILD)/tandem-frontend $(PYTHON) -m pytest -q tests \
	  --ignore=tests/conform/test_conform.py --ignore=tests/conform/test_mirror_catches.py
	@if [ -n "$$(ls -A $(SANITIZE_BUILD)/reports)" ]; then \
	  cat $(SANITIZE_BUILD)/reports/*; echo "sanitizer reports above" >&2; exit 1; fi

# The C tests once more under valgrind's memcheck, built without sanitizers
# (valgrind cannot run those) and without LTO: any invalid access, use of an
# uninitialised value or definite leak fails the run (about 40 s here).
MEMCHECK_BUILD := $(BUILD)/memcheck
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --show-leak-kinds=definite,indirect

test-memcheck: deps
	@$(MAKE) --no-print-directory BUILD=$(MEMCHECK_BUILD) CFLAGS="-O1 -g" \
	  $(patsubst $(BUILD)/%,$(MEMCHECK_BUILD)/%,$(C_TESTS))
	@set -e; for t in $(patsubst $(BUILD)/%,$(MEMCHECK_BUILD)/%,$(C_TESTS)); do \
	  echo "== valgrind $$t"; $(VALGRIND) $$t >$$t.memcheck 2>&1 || { cat $$t.memcheck; exit 1; }; done

# libFuzzer harnesses (tests/fuzz/): the frame codec, the HTTP request path
# through the whole frontend, a static mount's path handling, and the
# WebSocket frame parser, built with
# clang, AddressSanitizer and UBSan in a build directory of their own.  Each
# run starts from the seeds in tests/fuzz/corpus/HARNESS (regression inputs
# included) and writes what it finds to $(FUZZ_BUILD)/corpus/HARNESS, never to
# the tree; a crash is saved as $(FUZZ_BUILD)/crashes/HARNESS-crash-* and
# fails the target.  Reproduce one with `$(FUZZ_BUILD)/fuzz_HARNESS FILE`.
FUZZ_PACKAGES   := clang libclang-rt-14-dev
FUZZ_CC         ?= clang
FUZZ_BUILD      := $(BUILD)/fuzz
FUZZERS         := frame http path ws
FUZZ_TIME       ?= 180
# The smoke's seconds per harness (FUZZ_SMOKE_TIME=N sets them all): the codec
# and path harnesses reach nearly all they ever cover within a few seconds,
# the HTTP one keeps finding new paths for minutes.
FUZZ_SMOKE_frame := 10
FUZZ_SMOKE_http  := 30
FUZZ_SMOKE_path  := 10
FUZZ_SMOKE_ws    := 10
FUZZ_FLAGS      := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                   -fno-sanitize-recover=all
# An input that runs for 10 s is a hang; -rss_limit_mb bounds what one may take.
FUZZ_OPTS       ?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

# What a harness includes (its .d file: headers, and route.c for fuzz_path) are
# prerequisites too, never inputs of the link.
FUZZ_LINK = $(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -fsanitize=fuzzer -MMD -MP -MF $@.d -o $@

$(BUILD)/fuzz_frame: tests/fuzz/fuzz_frame.c $(BUILD)/obj/protocol/tdm_proto.o
	$(FUZZ_LINK) $< $(filter %.o,$^) -lmsgpackc

$(BUILD)/fuzz_http: tests/fuzz/fuzz_http.c $(FAKE_PEER_OBJ) $(FRONT_OBJ) $(LLHTTP_OBJ)
	$(FUZZ_LINK) -Ifrontend/tests $< $(filter %.o,$^) $(LIBS)

# fuzz_path.c includes route.c itself (route.c's calls out are stubs there), so
# it links only the parser (with its chunked decoder) and http_head below route.
$(BUILD)/fuzz_path: tests/fuzz/fuzz_path.c $(BUILD)/obj/frontend/src/http_head.o \
                    $(BUILD)/obj/frontend/src/http_parse.o $(BUILD)/obj/frontend/src/http_chunked.o \
                    $(BUILD)/obj/protocol/tdm_proto.o $(LLHTTP_OBJ)
	$(FUZZ_LINK) $< $(filter %.o,$^) -lmsgpackc

$(BUILD)/fuzz_ws: tests/fuzz/fuzz_ws.c $(BUILD)/obj/frontend/src/ws_frame.o $(BUILD)/obj/protocol/tdm_proto.o
	$(FUZZ_LINK) $< $(filter %.o,$^) -lmsgpackc

-include $(wildcard $(BUILD)/fuzz_*.d)

fuzz-build: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_PACKAGES)"
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS)" \
	  $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZERS))

# One harness for $(2) seconds with its new inputs in $(3): the HTTP dictionary
# serves the path harness too.  fuzz_http makes its static files under TMPDIR,
# and cannot remove them when it stops on a crash: they stay in the build.
define run_fuzzer
mkdir -p $(3) $(FUZZ_BUILD)/crashes $(FUZZ_BUILD)/tmp && \
TMPDIR=$(abspath $(FUZZ_BUILD)/tmp) $(FUZZ_BUILD)/fuzz_$(1) $(FUZZ_OPTS) -max_total_time=$(2) \
  -dict=tests/fuzz/$(if $(filter http path,$(1)),http,$(1)).dict \
  -artifact_prefix=$(FUZZ_BUILD)/crashes/$(1)- $(3) tests/fuzz/corpus/$(1)
endef

# `make fuzz` (FUZZ_TIME seconds each, default 3 minutes): new inputs stay in
# $(FUZZ_BUILD)/corpus/HARNESS for the next run; merge an interesting one into
# tests/fuzz/corpus/HARNESS by hand.
fuzz: fuzz-build
	@set -e; $(foreach h,$(FUZZERS),echo "== fuzz_$(h), $(FUZZ_TIME) s"; \
	  $(call run_fuzzer,$(h),$(FUZZ_TIME),$(FUZZ_BUILD)/corpus/$(h));)

# The smoke run `make test` makes: every seed and regression input, then a
# few seconds of fuzzing each (above) from a fresh corpus; the log is shown
# only if it fails.
test-fuzz: fuzz-build
	@set -e; $(foreach h,$(FUZZERS),echo "== fuzz_$(h), $(or $(FUZZ_SMOKE_TIME),$(FUZZ_SMOKE_$(h))) s"; \
	  rm -rf $(FUZZ_BUILD)/smoke/$(h); \
	  if ! ( $(call run_fuzzer,$(h),$(or $(FUZZ_SMOKE_TIME),$(FUZZ_SMOKE_$(h))),$(FUZZ_BUILD)/smoke/$(h)) ) \
	       >$(FUZZ_BUILD)/smoke-$(h).log 2>&1; then \
	    tail -n 60 $(FUZZ_BUILD)/smoke-$(h).log; echo "fuzz_$(h) failed (log: $(FUZZ_BUILD)/smoke-$(h).log)" >&2; \
	    exit 1; fi; \
	  grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_BUILD)/smoke-$(h).log || true;)

# /status.html in headless Chromium (tests/test_status_page.py): the page
# fetches /status by itself and its DOM shows the backends and a live rate;
# a screenshot goes to $(BUILD)/status-page.png.  Installs Debian's chromium
# and python3-websockets (the DevTools protocol) if they are missing; a
# missing browser fails the run here, where make test skips the page.
BROWSER_PACKAGES := chromium python3-websockets

test-browser: build
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BROWSER_PACKAGES)"
	TANDEM_EXPECT_BROWSER=1 TANDEM_SCREENSHOT=$(BUILD)/status-page.png $(PYTHON) -m pytest -q tests/test_status_page.py

run: build
	cd examples && PYTHONPATH=../backend $(PYTHON) -m tandem app:app --serve 127.0.0.1:8080 \
	  --static /static=./public --frontend ../$(BUILD)/tandem-frontend

# Benchmarks compare against uvicorn, gunicorn, nginx + uWSGI and nginx alone, from
# Debian too, with FastAPI and Flask apps; matplotlib draws the chart.
BENCH_PACKAGES := wrk python3-uvicorn python3-httptools gunicorn nginx uwsgi-core uwsgi-plugin-python3 \
                  python3-fastapi python3-flask python3-matplotlib

# About 10 minutes: every contender and scenario, the one-frontend ceiling;
# writes benchmark/results/<date>/ and the summary table in benchmark/README.md.
bench: build
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"
	@$(MAKE) --no-print-directory $(BUILD)/floor-backend
	$(PYTHON) benchmark/run.py $(BENCH_ARGS)

# About a minute: plaintext on the raw apps' contenders; writes build/bench/.
bench-quick: build
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"
	$(PYTHON) benchmark/run.py --quick $(BENCH_ARGS)

# About 2 minutes: the frontend's static files against nginx's (benchmark/static.py).
bench-static: build
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="wrk nginx"
	$(PYTHON) benchmark/static.py $(BENCH_ARGS)

# About a minute: the frontend's RSS growth for 10,000 client connections (half
# idle keep-alive, half in the middle of their headers), and nginx's for the
# same if Debian's nginx is installed (benchmark/conn_memory.py).
bench-conn-memory: build
	$(PYTHON) benchmark/conn_memory.py $(BENCH_ARGS)

# Not part of `make test` (a few minutes): a million keep-alive requests through
# the frontend and a backend with wrk; each process's RSS may grow by less than
# 20 MB from after a warm-up to the end (tests/hostile/soak.py).
soak: build
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="wrk"
	$(PYTHON) tests/hostile/soak.py $(SOAK_ARGS)

# The frontend and the `tandem` command into PREFIX/bin, the tandem package (with
# its accelerator) into PREFIX/lib/python3/dist-packages: where Debian's
# /usr/bin/python3 looks when PREFIX is /usr/local, and where the command looks
# for any other PREFIX.  An installed --serve finds PREFIX/bin/tandem-frontend.
PY_LIB := $(PREFIX)/lib/python3/dist-packages

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/tandem-frontend $(DESTDIR)$(PREFIX)/bin/tandem-frontend
	install -m 0755 backend/bin/tandem $(DESTDIR)$(PREFIX)/bin/tandem
	rm -rf $(DESTDIR)$(PY_LIB)/tandem
	@cd backend && find tandem -name __pycache__ -prune -o -type f \( -name '*.py' -o -name py.typed \
	  -o -name '_speedups*.so' \) -print | while read -r f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(PY_LIB)/$$f" || exit 1; done
	@echo "installed tandem-frontend and tandem in $(DESTDIR)$(PREFIX)/bin, the package in $(DESTDIR)$(PY_LIB)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/tandem-frontend $(DESTDIR)$(PREFIX)/bin/tandem
	rm -rf $(DESTDIR)$(PY_LIB)/tandem

clean:
	rm -rf $(BUILD) backend/tandem/_speedups*.so

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The two-container setup (docker-compose.yml) on a real Docker engine
# (tests/compose/run.py): installs docker.io, docker-compose and debootstrap from
# Debian if they are missing, starts dockerd if no engine runs, builds
# debian:bookworm-slim with debootstrap where it cannot be pulled, then builds,
# checks, scales, swaps under load and stops the stack. Fails if Docker cannot run.
.PHONY: test-compose test-bare compose-base-image

test-compose:
	$(PYTHON) tests/compose/run.py

# The README's first command on a bare Debian 12 (tests/bare/run.py): in a
# container of debian:bookworm-slim with only make, git and curl added, `make run`
# from a copy of this checkout must serve the example app on its first try.
test-bare:
	$(PYTHON) tests/bare/run.py

# Just the base image: kept, pulled, or built from apt's mirror with debootstrap.
compose-base-image:
	deploy/docker/debian-base-image.sh
