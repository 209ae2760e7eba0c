# Entry points. `make run` and `make test` do all set-up on a fresh Debian
# machine (scripts/setup.sh: packages through apt, the Rust target through
# rustup) and then hand over to the harness. `make help` lists the targets.
#
# Variables (make VAR=value):
#   SMP      CPUs of the guest (run)                          harness default: 4 (Bochs: 2)
#   ACCEL    tcg | kvm | auto (run, bench)                    harness default: auto
#   EXP      experiments to run, a glob (run; `harness list`) default *
#   MS       milliseconds per experiment (run)                harness default: 200 (Bochs: 60)
#   BENCH_SMP  CPU counts of `make bench`, e.g. 2,4           harness default
#   REPEAT   boots of each configuration of `make bench`      1
#   TIMEOUT  seconds before the harness kills a QEMU boot (run, bench)  harness default
#   BOOT     kernel | iso-bios | iso-uefi (run; an ISO boot runs its menu's default entry: the suite)
#   CONTROL  a negative control of the platform to run instead (run), see docs/cmdline.md
#   CPU      QEMU -cpu model (run, bench)                     harness default
#   QEMU     the QEMU (run, bench, test): a path or program, or a major
#            version alone: QEMU=10 is build/qemu-10/qemu-system-x86_64,
#            unpacked first (scripts/setup-qemu.sh)           the system's (7.2)
#   ARGS     more arguments for `harness run` / `harness bench`
#   CMDLINE  words for the default entry of the ISOs' menus   none (exp=* ms=200)
#   EMULATOR qemu | bochs (run): bochs boots an ISO made for the run through
#            its BIOS (CPU= then names a Bochs model)      default qemu
#   LIMINE_DIR  Limine's binaries for iso-limine (see scripts/mkiso-limine.sh)
#   LINUX_SMP, LINUX_FLIPS  CPUs and flips of `make test-linux`  default 2, 1000

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all
# Targets run one after the other; cargo keeps both cores busy by itself.
.NOTPARALLEL:

# cargo from PATH; else where rustup puts it (what `. $HOME/.cargo/env` does
# for shells that have not read ~/.profile, such as CI's).
CARGO_HOME ?= $(HOME)/.cargo
ifeq ($(shell command -v cargo 2>/dev/null),)
export PATH := $(CARGO_HOME)/bin:$(PATH)
endif
CARGO ?= cargo

EMULATOR ?= qemu
# CPUs, accelerator and milliseconds are the harness's own defaults unless
# given (`harness run --help`): one set for `make run` and `harness run`.
SMP ?=
ACCEL ?=
EXP ?= *
MS ?=
BENCH_SMP ?=
REPEAT ?=
TIMEOUT ?=
BOOT ?=
CONTROL ?=
CPU ?=
QEMU ?=
ARGS ?=
CMDLINE ?=

KERNEL_TARGET := x86_64-unknown-none
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
KERNEL := $(TARGET_DIR)/$(KERNEL_TARGET)/release/kernel
ISO := out/static-call.iso
LIMINE_ISO := out/static-call-limine.iso
PLATFORM_TABLE := harness/platform.cfg
TORTURE_TABLE := harness/torture.cfg
# The QEMUs the tables name besides the system's (`qemu = 10` rows).
TABLE_QEMUS := 10
# QEMU=10: a major version alone names the unpacked QEMU of build/qemu-10/.
QEMU_MAJOR := $(shell printf '%s' '$(QEMU)' | grep -xE '[0-9]+')
QEMU_OPTS := $(if $(QEMU),--qemu '$(QEMU)')

HARNESS := $(CARGO) run --quiet -p harness --release --
# The targets below build the kernel first (`kernel`), so the harness need not.
NO_BUILD := --no-build
# Options common to `harness run` and `harness bench`.
GUEST_OPTS := $(if $(ACCEL),--accel $(ACCEL)) $(QEMU_OPTS) \
	$(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(CPU),--cpu $(CPU))
# The experiments, unless a platform control or an ISO boot (whose command
# line is its menu's default entry, the suite) is asked for.
EXP_OPTS := $(if $(CONTROL)$(filter iso-%,$(BOOT)),,--experiment '$(EXP)' $(if $(MS),--ms $(MS)))
RUN_OPTS := $(if $(SMP),--smp $(SMP)) $(GUEST_OPTS) $(if $(BOOT),--boot $(BOOT)) \
	$(if $(CONTROL),--control $(CONTROL)) $(EXP_OPTS) $(ARGS)

.PHONY: all help setup setup-qemu setup-bochs setup-linux-guest kernel host iso iso-limine run list test test-host test-bochs \
	test-boot test-repro test-torture test-linux bench fmt check clean

all: kernel iso ## build the kernel and the GRUB ISO

help: ## list the targets
	@sed -n '/^$$/q; s/^# \{0,1\}//p' Makefile
	@echo
	@grep -E '^[a-z-]+:.*## ' Makefile | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 16

setup: ## install packages, the Rust target and components (idempotent)
	@bash scripts/setup.sh

setup-qemu: setup ## unpack the QEMUs the tables and QEMU=N name under build/qemu-N/ (idempotent)
	@for n in $(sort $(TABLE_QEMUS) $(QEMU_MAJOR)); do bash scripts/setup-qemu.sh $$n; done

kernel: setup ## build the kernel ELF (target/x86_64-unknown-none/release/kernel)
	$(CARGO) build -p kernel --release --target $(KERNEL_TARGET)

host: setup ## build the host crates (report, plan, harness)
	$(CARGO) build --release

iso: kernel ## build out/static-call.iso (GRUB, BIOS + UEFI; the menu from `harness iso-menu`) and its kernel out/static-call.elf
	HARNESS='$(HARNESS)' bash scripts/mkiso.sh --kernel $(KERNEL) --out $(ISO) --cmdline "$(CMDLINE)"

iso-limine: kernel ## build out/static-call-limine.iso (Limine, needs its binaries)
	HARNESS='$(HARNESS)' bash scripts/mkiso-limine.sh --kernel $(KERNEL) --out $(LIMINE_ISO) --cmdline "$(CMDLINE)"

run: kernel $(if $(filter iso-%,$(BOOT)),iso) $(if $(QEMU_MAJOR),setup-qemu) $(if $(filter bochs,$(EMULATOR)),setup-bochs) ## boot the default suite (EXP='*'; the harness's SMP, ACCEL, MS unless given), judge each experiment
ifeq ($(EMULATOR),bochs)
	$(HARNESS) run $(NO_BUILD) --emulator bochs $(if $(SMP),--smp $(SMP)) $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
	$(if $(CPU),--cpu $(CPU)) --experiment '$(EXP)' $(if $(MS),--ms $(MS)) $(ARGS)
else
	$(HARNESS) run $(NO_BUILD) $(RUN_OPTS)
endif

setup-bochs: setup ## install Bochs (scripts/setup.sh --bochs; idempotent)
	@bash scripts/setup.sh --bochs

list: setup ## list the experiments of the registry (EXP=glob to select)
	$(HARNESS) list $(if $(filter-out *,$(EXP)),'$(EXP)')

test: setup test-host iso test-boot test-bochs test-repro test-linux test-torture ## host tests, the boot test table, the Bochs runs, the emulator reproducers, the Linux guest, the torture table (its closing line last)

test-host: setup ## unit tests of the host crates (report, plan, harness)
	$(CARGO) test

test-boot: kernel iso setup-qemu ## the boot test table (harness/platform.cfg), QEMU 7.2 and 10
	$(HARNESS) matrix $(NO_BUILD) $(QEMU_OPTS) $(PLATFORM_TABLE)

test-torture: kernel setup-qemu ## the torture table (harness/torture.cfg): the suite, the int3 grid at 2 and 8 CPUs, the deadlocks, the grids under QEMU 10
	$(HARNESS) matrix $(NO_BUILD) $(QEMU_OPTS) $(TORTURE_TABLE)

# Each emulator finding's reproducer, one short boot each (docs/emulators/):
# a measurement, which must run, whether or not the finding shows.
REPROS := tcg-stale-block tcg-notdirty tcg-torn-store
test-repro: kernel setup-qemu ## one boot of each emulator finding's reproducer (harness repro NAME)
	for r in $(REPROS); do $(HARNESS) repro $$r $(NO_BUILD) $(QEMU_OPTS) --repeat 1 || exit 1; done

# A real Linux guest (Debian bookworm's 6.1 kernel, a busybox initramfs)
# flipping sched_schedstats under load, the stale-int3 livelock detected
# and released through QEMU's gdbstub (docs/linux-guest.md). A measurement:
# it passes when the guest reached its end line or panicked on its console
# (each livelock met named and released on the way), and fails on a hang the
# harness could not diagnose or release before the deadline, or a harness
# error. `--control` also samples the running guest every 100 flips, each
# sample to be judged no livelock (the detector's live negative control).
# LINUX_FLIPS and LINUX_SMP to change it.
LINUX_FLIPS ?= 1000
LINUX_SMP ?= 2
setup-linux-guest: ## unpack the Linux guest under build/linux-guest/ (Debian's kernel and busybox; idempotent)
	@bash scripts/setup-linux-guest.sh

test-linux: setup setup-linux-guest ## a short Linux guest check: LINUX_FLIPS=1000 flips of sched_schedstats at LINUX_SMP=2 (harness linux)
	$(HARNESS) linux $(QEMU_OPTS) --smp $(LINUX_SMP) --flips $(LINUX_FLIPS) --control --timeout 300

# Bochs (Nehalem, 2 CPUs), two rows at once: the platform and a short
# selection, and a sabotage every experiment of which must FAIL; then the
# first row replayed, which must give the same records.
BOCHS_TABLE := harness/bochs.cfg
test-bochs: kernel setup-bochs ## the Bochs table (harness/bochs.cfg) and a replay of its first row (about 2 minutes)
	$(HARNESS) matrix $(NO_BUILD) -j 2 $(BOCHS_TABLE)
	$(HARNESS) replay "$$(ls -d out/runs/*-bochs-nehalem-smp2-smp2-* | tail -n 1)"

bench: kernel $(if $(QEMU_MAJOR),setup-qemu) ## measure patch latency and call throughput as ratios (harness bench)
	$(HARNESS) bench $(NO_BUILD) $(GUEST_OPTS) $(if $(BENCH_SMP),--smp $(BENCH_SMP)) \
	$(if $(REPEAT),--repeat $(REPEAT)) $(ARGS)

fmt: setup ## format every crate
	$(CARGO) fmt --all

check: setup ## rustfmt --check, clippy on the host crates and the kernel, kernel build
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p kernel --release --target $(KERNEL_TARGET) -- -D warnings
	$(CARGO) build -p kernel --release --target $(KERNEL_TARGET)

clean: ## remove build products (target/, out/, build/)
	$(CARGO) clean
	rm -rf out build
