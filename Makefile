# longvivit: GNU make + pkg-config. Probes what is installed, prints it, and degrades cleanly.
#   make               static library + the longvivit program (build/)
#   make check         the Check test suite
#   make NO_OMP=1 NO_BLAS=1 CUDA=0 MPI=0 DNNL=0 SANITIZE=address,undefined   (options combine;
#                      each option set gets its own build folder, so switching never mixes objects)
# Missing packages: tools/install-deps.sh (root) installs them or prints the apt-get line.

CC       ?= cc
NVCC     ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
PKG      ?= pkg-config
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
OPENBLAS_PC := /usr/lib/$(MULTIARCH)/openblas-openmp/pkgconfig

# ---- build folder per option set --------------------------------------------------------------
comma := ,
empty :=
space := $(empty) $(empty)
variant := $(strip $(if $(NO_OMP),noomp) $(if $(NO_BLAS),noblas) $(if $(filter 0,$(MPI)),nompi) \
                   $(if $(filter 0,$(DNNL)),nodnnl) \
                   $(if $(SANITIZE),san-$(subst $(comma),-,$(SANITIZE))))
BUILD ?= build$(if $(variant),/$(subst $(space),-,$(variant)))

# ---- probes -----------------------------------------------------------------------------------
have_pc = $(shell $(PKG) --exists $(1) 2>/dev/null && echo yes)

HAVE_OMP := $(if $(NO_OMP),,$(shell echo 'int main(void){return 0;}' | \
              $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes))
HAVE_BLAS := $(if $(NO_BLAS),,$(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) $(PKG) --exists openblas \
              2>/dev/null && echo yes))
HAVE_CHECK  := $(call have_pc,check)
HAVE_CJSON  := $(call have_pc,libcjson)
HAVE_UTF8PROC := $(call have_pc,libutf8proc)
HAVE_PNG    := $(call have_pc,libpng)
HAVE_FFMPEG := $(call have_pc,libavformat libavcodec libavutil libswscale)
HAVE_CAIRO  := $(call have_pc,cairo)
HAVE_NVCC   := $(if $(filter 0,$(CUDA)),,$(if $(NVCC),yes))
# data-parallel training (blas_glue/dist_mpi.c) where mpicc exists; its flags from Debian's
# mpi-c.pc, the alternatives' default MPI (Open MPI or MPICH); MPI=0 builds without
MPICC ?= mpicc
HAVE_MPI := $(if $(filter 0,$(MPI)),,$(shell command -v $(MPICC) >/dev/null 2>&1 && \
              $(PKG) --exists mpi-c 2>/dev/null && echo yes))
# bf16 matmuls (--precision bf16: blas_glue/bf16_dnnl.c) through oneDNN where its header and
# library link (Debian's libdnnl-dev ships no .pc file, so a compile-and-link probe); DNNL=0
# builds without (blas_glue/bf16_none.c then refuses bf16, saying what to install)
HAVE_DNNL := $(if $(filter 0,$(DNNL)),,$(shell printf '\043include <oneapi/dnnl/dnnl.h>\nint \
              main(void) { return dnnl_get_effective_cpu_isa() == 0; }\n' | $(CC) -x c - \
              -ldnnl -o /dev/null 2>/dev/null && echo yes))
# the cuda backend's host build (cuda/host_exec.h) needs a C++ compiler; sanitizer builds leave
# it out (its fibers switch stacks behind AddressSanitizer's back); CUDA_HOST=0 too
HAVE_CUDA_HOST := $(if $(filter 0,$(CUDA_HOST))$(SANITIZE),,$(shell command -v $(CXX) \
                  >/dev/null 2>&1 && echo yes))

# ---- flags ------------------------------------------------------------------------------------
# ref/ is the oracle: -O2, ISO C (so no FMA contraction), never fast-math.
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Iref -Iblas_glue -Idata -Igolden/harness
BASEFLAGS := -std=c11 $(WARN)
FASTFLAGS ?= -O3 -march=native
LDLIBS   := -lm

ifneq ($(SANITIZE),)
  CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS  += -fsanitize=$(SANITIZE)
endif
ifeq ($(HAVE_OMP),yes)
  OMPFLAGS := -fopenmp
  LDFLAGS  += -fopenmp
else
  BASEFLAGS += -Wno-unknown-pragmas    # the pragmas stay; without OpenMP they are serial loops
endif
ifeq ($(HAVE_BLAS),yes)
  BLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) $(PKG) --cflags openblas) -DLV_HAVE_BLAS
  BLAS_LIBDIR := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) $(PKG) --variable=libdir openblas)
  LDLIBS   += -L$(BLAS_LIBDIR) -Wl,-rpath,$(BLAS_LIBDIR) -lopenblas
endif
ifeq ($(HAVE_FFMPEG),yes)
  DATA_CFLAGS += $(shell $(PKG) --cflags libavformat libavcodec libavutil libswscale)
  LDLIBS      += $(shell $(PKG) --libs libavformat libavcodec libavutil libswscale)
endif
ifeq ($(HAVE_UTF8PROC),yes)  # Unicode for the tokenizer: categories, case, NFD
  DATA_CFLAGS += $(shell $(PKG) --cflags libutf8proc)
  LDLIBS      += $(shell $(PKG) --libs libutf8proc)
endif
ifeq ($(HAVE_PNG),yes)
  DATA_CFLAGS += $(shell $(PKG) --cflags libpng)
  LDLIBS      += $(shell $(PKG) --libs libpng)
endif
ifeq ($(HAVE_CAIRO),yes)     # optional: without it the pictures are skipped with one line
  DATA_CFLAGS += $(shell $(PKG) --cflags cairo) -DLV_HAVE_CAIRO
  LDLIBS      += $(shell $(PKG) --libs cairo)
endif
ifeq ($(HAVE_DNNL),yes)
  LDLIBS   += -ldnnl
endif
ifeq ($(HAVE_MPI),yes)
  MPI_CFLAGS := $(shell $(PKG) --cflags mpi-c)
  LDLIBS     += $(shell $(PKG) --libs mpi-c)
endif
LDLIBS += -lpthread
ifeq ($(HAVE_CUDA_HOST),yes)
  CPPFLAGS += -DLV_HAVE_CUDA_HOST
  LDLIBS   += -lstdc++
endif
ifeq ($(HAVE_CJSON),yes)
  CPPFLAGS += $(shell $(PKG) --cflags libcjson)
  LDLIBS   += $(shell $(PKG) --libs libcjson)
endif

# ---- sources ----------------------------------------------------------------------------------
REF_SRC   := $(wildcard ref/*.c)
GOLDEN_SRC := $(wildcard golden/harness/*.c)                   # the verification harness
FAST_SRC  := $(filter-out blas_glue/dist_$(if $(HAVE_MPI),none,mpi).c \
               blas_glue/bf16_$(if $(HAVE_DNNL),none,dnnl).c,$(wildcard blas_glue/*.c))
DATA_SRC  := $(wildcard data/*.c)
TOOL_SRC  := tools/longvivit.c tools/options.c $(wildcard tools/cmd_*.c)   # the one program
BENCH_SRC := $(wildcard tools/bench_*.c)                       # one program each
TEST_SRC  := $(filter-out tests/pretrained_check.c tests/gpt2_check.c tests/check_mpi.c,\
               $(wildcard tests/*.c))
HEADERS   := $(wildcard ref/*.h golden/harness/*.h blas_glue/*.h data/*.h)
CUDA_SRC  := $(wildcard cuda/*.cu)                             # the cuda backend (cuda/README.md)
CUDA_HDR  := $(wildcard cuda/*.h)

REF_OBJ   := $(REF_SRC:%.c=$(BUILD)/%.o)
GOLDEN_OBJ := $(GOLDEN_SRC:%.c=$(BUILD)/%.o)
FAST_OBJ  := $(FAST_SRC:%.c=$(BUILD)/%.o)
DATA_OBJ  := $(DATA_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
BENCHES   := $(BENCH_SRC:tools/%.c=$(BUILD)/%)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
CUDA_HOST_OBJ := $(if $(HAVE_CUDA_HOST),$(CUDA_SRC:cuda/%.cu=$(BUILD)/cuda-host/%.o) \
                 $(BUILD)/cuda-host/host_exec.o)

LIB       := $(BUILD)/liblongvivit.a
PROGRAM   := $(BUILD)/longvivit
TESTS     := $(BUILD)/run_tests

.PHONY: all check check-run clean config cuda docs demo demo-text experiments deps golden bench mutants fuzz
all: config $(LIB) $(PROGRAM) $(BENCHES)

config:
	@echo "longvivit build in $(BUILD)/"
	@echo "  OpenMP   : $(or $(HAVE_OMP),no$(if $(NO_OMP), (NO_OMP=1)))"
	@echo "  OpenBLAS : $(or $(HAVE_BLAS),no$(if $(NO_BLAS), (NO_BLAS=1)))  ($(OPENBLAS_PC))"
	@echo "  cJSON    : $(or $(HAVE_CJSON),no)"
	@echo "  utf8proc : $(or $(HAVE_UTF8PROC),no)"
	@echo "  libpng   : $(or $(HAVE_PNG),no)"
	@echo "  FFmpeg   : $(or $(HAVE_FFMPEG),no)"
	@echo "  cairo    : $(or $(HAVE_CAIRO),no (no pictures: charts and contact sheets))"
	@echo "  Check    : $(or $(HAVE_CHECK),no)"
	@echo "  nvcc     : $(or $(HAVE_NVCC),no$(if $(filter 0,$(CUDA)), (CUDA=0)))"
	@echo "  cuda-host: $(or $(HAVE_CUDA_HOST),no$(if $(SANITIZE), (sanitizer build), (needs $(CXX))))"
	@echo "  oneDNN   : $(or $(HAVE_DNNL),no$(if $(filter 0,$(DNNL)), (DNNL=0), (no bf16 matmuls: apt-get install libdnnl-dev)))"
	@echo "  MPI      : $(or $(HAVE_MPI),no$(if $(filter 0,$(MPI)), (MPI=0), (no $(MPICC) or mpi-c.pc: one process only)))"
	@echo "  sanitize : $(or $(SANITIZE),off)"
	@test "$(HAVE_CJSON)" = yes || \
	  { echo "cJSON is required (safetensors headers): run tools/install-deps.sh"; exit 1; }
	@test "$(HAVE_UTF8PROC)" = yes || { echo "utf8proc is required (the tokenizer's Unicode): \
	  apt-get install libutf8proc-dev, or run tools/install-deps.sh"; exit 1; }
	@test "$(HAVE_FFMPEG)$(HAVE_PNG)" = yesyes || \
	  { echo "FFmpeg and libpng are required (data/): run tools/install-deps.sh"; exit 1; }

$(BUILD)/ref/%.o: ref/%.c $(wildcard ref/*.h) | $(BUILD)/ref
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# golden/harness/ (writes and checks the golden files) is compiled like ref/: -O2, no OpenMP.
$(BUILD)/golden/harness/%.o: golden/harness/%.c $(HEADERS) | $(BUILD)/golden/harness
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/blas_glue/%.o: blas_glue/%.c $(wildcard ref/*.h blas_glue/*.h) | $(BUILD)/blas_glue
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) $(FASTFLAGS) $(OMPFLAGS) $(BLAS_CFLAGS) -c $< -o $@

# the MPI transport: only this file and tests/check_mpi.c include mpi.h
$(BUILD)/blas_glue/dist_mpi.o: blas_glue/dist_mpi.c $(wildcard ref/*.h blas_glue/*.h) | $(BUILD)/blas_glue
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) $(MPI_CFLAGS) -c $< -o $@

$(BUILD)/data/%.o: data/%.c $(wildcard ref/*.h data/*.h) | $(BUILD)/data
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) $(OMPFLAGS) $(DATA_CFLAGS) -c $< -o $@

$(BUILD)/tools/%.o: tools/%.c $(HEADERS) $(wildcard tools/*.h) | $(BUILD)/tools
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) $(OMPFLAGS) $(DATA_CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c $(HEADERS) $(wildcard tests/*.h) | $(BUILD)/tests
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) $(OMPFLAGS) $(DATA_CFLAGS) \
	  $(shell $(PKG) --cflags check) -c $< -o $@

$(BUILD)/ref $(BUILD)/golden/harness $(BUILD)/blas_glue $(BUILD)/data $(BUILD)/tools $(BUILD)/tests:
	@mkdir -p $@

# The cuda backend built for the host (registered as "cuda-host"): the same .cu sources as C++,
# every kernel launch run by cuda/host_exec.h, so CI checks the kernels without a GPU.
CXXWARN := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wmissing-declarations
$(BUILD)/cuda-host/%.o: cuda/%.cu $(HEADERS) $(CUDA_HDR) | $(BUILD)/cuda-host
	$(CXX) -std=c++20 $(CXXWARN) $(CPPFLAGS) -Icuda $(CFLAGS) -x c++ -c $< -o $@
$(BUILD)/cuda-host/host_exec.o: cuda/host_exec.cc $(CUDA_HDR) | $(BUILD)/cuda-host
	$(CXX) -std=c++20 $(CXXWARN) $(CPPFLAGS) -Icuda $(CFLAGS) -c $< -o $@
$(BUILD)/cuda-host:
	@mkdir -p $@

# make check runs these: the host layer against CUDA's rules (barriers, shuffles in a branch, a
# divergent barrier reported), and the cuda attention against ref's on ragged, indexed and
# padded groups.
CUDA_CHECK := $(if $(HAVE_CUDA_HOST),$(BUILD)/cuda_host_layer_check $(BUILD)/cuda_attention_check)
$(BUILD)/cuda_%_check: tests/cuda_%_check.cc $(LIB) $(HEADERS) $(CUDA_HDR)
	$(CXX) -std=c++20 $(CXXWARN) $(CPPFLAGS) -Icuda -Igolden/harness $(CFLAGS) $< $(LIB) \
	  $(LDFLAGS) $(LDLIBS) -o $@

# make check runs this through tests/torch/pretrained.py: one batch encoded from a CLIP vision
# tower and a BERT text tower, which the script compares with PyTorch's CLIP and BERT.
PRETRAINED_CHECK := $(BUILD)/pretrained_check
$(PRETRAINED_CHECK): $(BUILD)/tests/pretrained_check.o $(LIB)
	$(CC) $(LDFLAGS) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

# make check runs this through tests/torch/gpt2.py: the video-to-text LM started from a GPT-2
# file, whose logits the script compares with a float64 PyTorch GPT-2.
GPT2_CHECK := $(BUILD)/gpt2_check
$(GPT2_CHECK): $(BUILD)/tests/gpt2_check.o $(LIB)
	$(CC) $(LDFLAGS) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

# make check runs this under mpirun through tests/mpi.sh: the data-parallel step on 2 and 3 ranks
# against one process with the whole global batch (an MPI build only).
MPI_CHECK := $(if $(HAVE_MPI),$(BUILD)/check_mpi)
$(BUILD)/check_mpi: tests/check_mpi.c $(LIB) $(HEADERS)
	$(CC) $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) $(MPI_CFLAGS) $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

$(LIB): $(REF_OBJ) $(GOLDEN_OBJ) $(FAST_OBJ) $(DATA_OBJ) $(CUDA_HOST_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(PROGRAM): $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $(CFLAGS) $(TOOL_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench_%: $(BUILD)/tools/bench_%.o $(LIB)
	$(CC) $(LDFLAGS) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(TESTS): $(TEST_OBJ) $(LIB)
	@test "$(HAVE_CHECK)" = yes || \
	  { echo "Check is required for the tests: run tools/install-deps.sh"; exit 1; }
	$(CC) $(LDFLAGS) $(CFLAGS) $(TEST_OBJ) $(LIB) $(LDLIBS) $(shell $(PKG) --libs check) -o $@

# Check forks per test (CK_FORK); each suite sets explicit timeouts. The verdict is the exit status.
# tests/deps.sh checks the dependency rule of ref/ (and, --self-test, that the rule can fail).
# Sanitizer builds: LeakSanitizer ignores what system libraries keep by design (tests/lsan.supp).
# check installs the dependencies, then runs check-run in a new make, which probes what is
# installed afresh: on a fresh machine the first make's probe ran before Open MPI (or cairo)
# was there, and would have left the MPI checks out of this very run.
# Sanitizer reports also go to files under $(BUILD)/sanitizer/, and a failed run prints them last:
# a forked test's report is otherwise far above the summary in a long log (CI shows its tail).
SAN_LOG := $(abspath $(BUILD))/sanitizer
check: deps
	@rm -rf $(SAN_LOG)
	@$(MAKE) --no-print-directory check-run || { bash tests/sanitizer-reports.sh $(SAN_LOG); \
	  exit 1; }
check-run: export LSAN_OPTIONS = suppressions=$(abspath tests/lsan.supp):print_suppressions=0
ifneq ($(SANITIZE),)
check-run: export ASAN_OPTIONS = log_path=$(SAN_LOG)/report
check-run: export UBSAN_OPTIONS = log_path=$(SAN_LOG)/report:print_stacktrace=1
endif
check-run:
	@mkdir -p $(SAN_LOG)
	@$(MAKE) --no-print-directory all $(TESTS) $(CUDA_CHECK) $(PRETRAINED_CHECK) $(GPT2_CHECK) \
	  $(MPI_CHECK)
	@rm -f $(BUILD)/skips.txt
	LV_SKIP_LOG=$(abspath $(BUILD))/skips.txt $(TESTS)
	$(if $(CUDA_CHECK),$(foreach c,$(CUDA_CHECK),$(c) &&) true,@echo "cuda-host: not in this \
	  build ($(if $(SANITIZE),sanitizer builds leave it out,no $(CXX))): the cuda kernels' host \
	  checks are skipped")
	bash tests/deps.sh
	bash tests/deps.sh --self-test
	LV_SKIP_LOG=$(abspath $(BUILD))/skips.txt bash tests/cli.sh $(PROGRAM)
	LV_SKIP_LOG=$(abspath $(BUILD))/skips.txt bash tests/mpi.sh $(PROGRAM) $(MPI_CHECK)
	LV_SKIP_LOG=$(abspath $(BUILD))/skips.txt bash tests/experiments.sh $(PROGRAM)
	LV_SKIP_LOG=$(abspath $(BUILD))/skips.txt bash tests/torch/run.sh $(BUILD)/torch-check.txt
	LV_SKIP_LOG=$(abspath $(BUILD))/skips.txt $${PYTHON:-/usr/bin/python3} \
	  tests/torch/pretrained.py $(PRETRAINED_CHECK) --workdir $(BUILD)/pretrained
	LV_SKIP_LOG=$(abspath $(BUILD))/skips.txt $${PYTHON:-/usr/bin/python3} \
	  tests/torch/gpt2.py $(GPT2_CHECK) --workdir $(BUILD)/gpt2
	@n=$$(cat $(BUILD)/skips.txt 2>/dev/null | wc -l); echo "make check: passed, $$n skipped"; \
	  if [ "$$n" -gt 0 ]; then cat $(BUILD)/skips.txt; \
	  echo "(each SKIP: line says what to install; LV_REQUIRE_ALL=1 makes skips failures)"; fi

# The README's first command: installs what is missing (root) or says what to install, builds,
# then runs the method end to end on the synthetic benchmark (tools/demo.sh, a few minutes).
deps:
	@bash tools/install-deps.sh
demo: deps
	@$(MAKE) --no-print-directory all
	@bash tools/demo.sh

# The second stage end to end, Table 3 in miniature (tools/demo-text.sh: three encoders, the LM,
# the resampler + cross-attention on each; longer than `make demo`).
demo-text: deps
	@$(MAKE) --no-print-directory all
	@bash tools/demo-text.sh

# The paper's experiments in miniature (tools/experiments.sh): about 2 hours on 2 cores,
# resumable (rerun to continue); writes build/experiments/, then docs/RESULTS.md and
# docs/images/results/*.png. EXP_SCALE=mini runs the minute-sized version make check tests.
experiments: deps
	@$(MAKE) --no-print-directory all
	@EXP_PUBLISH=$${EXP_PUBLISH:-1} bash tools/experiments.sh

# Our training step beside the same step in PyTorch (tools/bench_torch.py), one table with the
# ratio per row (build/bench/); BENCH_QUICK=1 or BENCH_ROWS="s-1568-1" run part of it.
bench: $(PROGRAM)
	bash tools/bench.sh $(PROGRAM)

# docs/tolerances.md is printed from the one table in golden/harness/tolerance.c (tests/cli.sh
# checks it).
docs: $(PROGRAM)
	{ echo "# Tolerances"; echo; \
	  echo "Generated by \`make docs\` from \`golden/harness/tolerance.c\`," \
	    "the one table every check reads."; \
	  echo "A result passes when |got - want| <= abs + rel * |want|, elementwise."; echo; \
	  $(PROGRAM) tolerances --markdown; } > docs/tolerances.md

# golden/: the golden files and MANIFEST, regenerated byte for byte (tests/cli.sh compares them).
golden: config $(PROGRAM)
	$(PROGRAM) golden --out golden

# The catalogue of porting mistakes (tests/mutants/): the PyTorch port (tests/port/) must pass
# golden --compare --port, then each mutant of it must be caught (about 2-3 minutes on 2 cores).
mutants: $(PROGRAM)
	OMP_NUM_THREADS=1 /usr/bin/python3 tests/mutants/run.py --self-test $(PROGRAM)
	OMP_NUM_THREADS=1 /usr/bin/python3 tests/mutants/run.py $(PROGRAM)

# The CUDA path compiles wherever nvcc exists (CI included) into its own program,
# $(BUILD)/cuda/longvivit, whose registry has "cuda"; warnings are errors. cudart is linked
# statically, cuBLAS dynamically (the GPU machine has it). See cuda/README.md.
CUDA_ARCH ?= sm_90
CUDA_HOME ?= $(abspath $(dir $(NVCC))..)
CUDA_OBJ  := $(CUDA_SRC:cuda/%.cu=$(BUILD)/cuda/%.o)
CUDA_PROG := $(BUILD)/cuda/longvivit
NVCCFLAGS := -std=c++20 -arch=$(CUDA_ARCH) -O2 -Icuda $(filter-out -DLV_HAVE_CUDA_HOST,$(CPPFLAGS)) \
             -Werror all-warnings -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Werror
cuda:
ifeq ($(HAVE_NVCC),yes)
	@$(MAKE) --no-print-directory $(CUDA_PROG)
else
	@echo "nvcc not found (or CUDA=0): skipping the CUDA path"
endif

$(BUILD)/cuda/%.o: cuda/%.cu $(HEADERS) $(CUDA_HDR) | $(BUILD)/cuda
	$(NVCC) $(NVCCFLAGS) -c $< -o $@
$(BUILD)/cuda/registry.o: blas_glue/registry.c $(HEADERS) | $(BUILD)/cuda
	$(CC) $(BASEFLAGS) $(filter-out -DLV_HAVE_CUDA_HOST,$(CPPFLAGS)) -DLV_HAVE_CUDA $(CFLAGS) \
	  -c $< -o $@
$(BUILD)/cuda:
	@mkdir -p $@
# (without oneDNN: the bundle of this program travels to GPU machines, and libdnnl is 40 MB)
$(CUDA_PROG): $(TOOL_OBJ) $(REF_OBJ) $(GOLDEN_OBJ) \
              $(filter-out %/registry.o %/bf16_dnnl.o %/bf16_none.o,$(FAST_OBJ)) \
              $(BUILD)/blas_glue/bf16_none.o $(DATA_OBJ) $(CUDA_OBJ) $(BUILD)/cuda/registry.o
	$(CXX) $(LDFLAGS) $^ $(filter-out -lstdc++ -ldnnl,$(LDLIBS)) -L$(CUDA_HOME)/lib64 \
	  -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart_static -ldl -lrt -o $@

# On a machine with a GPU (and nvcc): the cuda program against every golden case (--port), two
# full runs compared byte for byte (determinism), compute-sanitizer memcheck and racecheck over
# one kernel and one model case; results in $(BUILD)/cuda-check/ (tools/gpu-check.sh, docs/cuda.md).
# A GPU machine without our Debian packages gets a bundle instead: make gpu-bundle here (the cuda
# program built without OpenBLAS, with the libraries it needs, in $(BUILD)/gpu-bundle/), then
# tools/gpu-check.sh OUTDIR --bundle $(BUILD)/gpu-bundle there (checks and the bench vs PyTorch).
.PHONY: cuda-check gpu-bundle
cuda-check: cuda
	bash tools/gpu-check.sh $(BUILD)/cuda-check --program $(CUDA_PROG) --no-bench
gpu-bundle:
	bash tools/gpu-check.sh --prepare --build $(BUILD)/gpu --bundle $(BUILD)/gpu-bundle

# Fuzzing (optional, not in check or CI): the libFuzzer harnesses of tests/fuzz/, one per parser,
# built with clang (apt-get install clang) against the sources with ASan + UBSan, then run one at
# a time at nice 19 for FUZZ_SECONDS each, or FUZZ_RUNS executions each when set; seeds come
# from tests/fuzz/seeds.sh, findings land in $(BUILD)/fuzz/findings/ (docs/fuzzing.md).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= 0
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_FLAGS   := -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all -Wno-unknown-pragmas
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJ     := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(REF_SRC) $(GOLDEN_SRC) $(DATA_SRC))
fuzz: config $(FUZZ_BINS)
	bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_RUNS)

$(FUZZ_DIR)/obj/%.o: %.c $(HEADERS)
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs clang (apt-get install clang)"; exit 1; }
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(CPPFLAGS) $(DATA_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/libfuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_DIR)/libfuzz.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(CPPFLAGS) $(DATA_CFLAGS) $< $(FUZZ_DIR)/libfuzz.a \
	  $(LDLIBS) -o $@

clean:
	rm -rf build
