# The course's commands. Each one creates the virtual environment (.venv) first when it is missing.
#   make lab             students: JupyterLab on your own copies in my_notebooks/ (exercises without
#                        solutions; made once, never overwritten: delete a file there for a fresh copy)
#   make lab-instructor  instructors: JupyterLab on notebooks/, the copies with the solutions
#   make course          run every notebook headless, then slides, students' copies and the course site
#                        -> build/site/index.html (open it in a browser; it needs no network)
#   make site            the course site again, from the notebooks make course ran (no network needed)
#   make slides          reveal.js decks that work offline -> build/slides/*.slides.html (make course makes them)
#   make student         students' copies without solutions -> build/student/*.ipynb
#   make test            lint, notebook cleanliness, unit tests, student build, every notebook under nbval
#   make unit            the unit tests (tests/)
#   make unit-fast       the unit tests without the slow ones (for the edit-test loop)
#   make nbval           every notebook under nbval, quick profile, figures checked against the references
#   make lint            ruff check and ruff format --check
#   make format          ruff's fixes and formatting, applied
#   make check-notebooks fails if a notebook is committed with outputs or machine metadata
#   make clean-notebooks strips outputs and metadata from the notebooks
#   make benchmark       the CNN-accuracy and attack-speed benchmarks (standard profile) -> benchmarks/results
#   make mutation        mutation testing (mutmut) of attacks/, certify/ and the evaluation modules: hours,
#                        resumes where it stopped -> benchmarks/results/mutation (MUTATION_MODULES: a subset)
#   make venv            only create .venv and install the course (the versions pinned in constraints.txt)
#   make lock            constraints.txt again: the newest versions pyproject.toml allows, from a throwaway venv
#   make clean           delete build/ and the test caches (not the model cache .cache/)
#   make help            this list
#   Variables: COURSE_PROFILE (quick, standard or full), PYTHON (the interpreter that creates .venv,
#              default python3), TF_BUILD (cpu or gpu: TensorFlow's build in .venv; gpu if nvidia-smi exists),
#              LAB_ARGS (extra options for JupyterLab; --allow-root is added when you are root, as in
#              Docker, dev containers and many cloud VMs), MUTATION_MODULES (make mutation's
#              groups or files, e.g. "attacks certify" or attacks/square.py; default all six)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb notebooks/[0-9][0-9][a-z]_*.ipynb))
# TensorFlow's CPU-only build, or the one with CUDA (pyproject.toml's `cpu` and `gpu` extras).
TF_BUILD ?= $(if $(shell command -v nvidia-smi 2>/dev/null),gpu,cpu)

# oneDNN kernels make TensorFlow 2-3x faster on AMD CPUs (it is on by default only on Intel);
# quieter TensorFlow start-up logs.
export TF_ENABLE_ONEDNN_OPTS ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help course site test student slides lab lab-instructor lint format check-notebooks clean-notebooks unit unit-fast nbval benchmark mutation clean venv lock

venv: $(STAMP)

# constraints.txt: the exact versions CI tested (tools/lock.py writes it); a new one reinstalls.
$(STAMP): pyproject.toml constraints.txt
	@case "$(TF_BUILD)" in cpu|gpu) ;; *) echo "TF_BUILD must be cpu or gpu, not '$(TF_BUILD)'"; exit 2;; esac
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the course into $(VENV) with TensorFlow's $(TF_BUILD) build and JupyterLab; a few minutes."
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The two builds of TensorFlow share their files: take out one that is not the build asked for.
	@if [ "$(TF_BUILD)" = gpu ]; then other=tensorflow-cpu; \
	 elif [ "$$(uname -sm)" = "Linux x86_64" ]; then other=tensorflow; else other=; fi; \
	 if [ -n "$$other" ] && $(BIN)/python -m pip show -q $$other 2>/dev/null; then \
	   echo "Replacing $$other with TensorFlow's $(TF_BUILD) build."; \
	   $(BIN)/python -m pip uninstall --quiet -y tensorflow tensorflow-cpu; fi
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt -e ".[dev,$(TF_BUILD)]"
	@touch $@

# The notebooks, then what the course site links to (slides, students' copies), then the site.
course: $(STAMP)
	$(BIN)/python tools/run_course.py
	$(BIN)/python tools/build_slides.py
	$(BIN)/python tools/student_build.py
	$(BIN)/python tools/build_site.py

site: $(STAMP)
	$(BIN)/python tools/build_site.py

test: lint check-notebooks unit student nbval

# Slide decks from the executed notebooks of `make course` (or the clean ones); no CDN.
slides: $(STAMP)
	$(BIN)/python tools/build_slides.py

# Students' copies: solution cells replaced by stubs; fails if any solution would leak.
student: $(STAMP)
	$(BIN)/python tools/student_build.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-notebooks: $(STAMP)
	$(BIN)/python tools/nbclean.py --check $(NOTEBOOKS)

clean-notebooks: $(STAMP)
	$(BIN)/python tools/nbclean.py $(NOTEBOOKS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests

# The edit-test loop: the unit tests without those marked slow (make test still runs them all).
unit-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow"

# Every notebook, in order, in the quick profile; deterministic results are checked by asserts in the cells,
# and each notebook's figures against its reference run (notebooks/expected/, COURSE_CHECK_EXPECTED=1).
nbval: $(STAMP)
	COURSE_PROFILE=quick COURSE_CHECK_EXPECTED=1 TQDM_DISABLE=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=1200 -p no:randomly $(NOTEBOOKS)

# JupyterLab refuses to start as root unless told to; root is normal in containers and cloud VMs.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

lab: $(STAMP)
	$(BIN)/python tools/student_build.py --out my_notebooks --keep-existing
	$(BIN)/jupyter lab $(LAB_ARGS) my_notebooks

lab-instructor: $(STAMP)
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks

help:
	@sed -n '/^# The course/,/^$$/{s/^# \{0,3\}//p}' Makefile

benchmark: $(STAMP)
	$(BIN)/python benchmarks/cnn_accuracy.py --profile standard --out benchmarks/results
	$(BIN)/python benchmarks/attack_speed.py --profile standard --out benchmarks/results

# Mutation testing (issue 28; tools/mutation.py, docs/contributing.md): too slow for `make test`. Results
# stay in mutants/, so an interrupted run resumes; the scores and survivors go to benchmarks/results/mutation.
MUTATION_MODULES ?=
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py $(MUTATION_MODULES)

# The lock needs Python 3.11 on Linux x86-64 (what CI runs): PYTHON=python3.11 make lock elsewhere.
lock:
	$(PYTHON) tools/lock.py

clean:
	rm -rf build .pytest_cache .ruff_cache
