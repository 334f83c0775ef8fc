#!/usr/bin/env bash
# Workers on many machines sharing one run through PostgreSQL: a Slurm array job, one GPU per task.
# Every task runs the same command; the first to arrive starts the run from the spec, the others join
# it, and each claims trials until every cell has spent its budget (never more: claims are made under
# a lock in the database). A task that dies mid-trial loses only that trial, which another task runs
# again once the dead one's heartbeat stops. Re-submitting the job after a crash resumes the run.
#
#   pip install -e '.[postgres]'     # then submit from the environment the harness is installed in
#   sbatch --array=0-15 examples/slurm_workers.sh examples/quickstart.yaml postgresql://user@dbhost/harness
#   harness report runs/quickstart        # when the array has finished
#
# The run directory (runs/<spec name>) must be on a file system every node sees: it holds the manifest.
#SBATCH --job-name=harness-workers
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --signal=B:TERM@120
#SBATCH --output=harness-worker-%A_%a.log
# --signal: two minutes before the time limit a worker is asked to stop after its current epoch; the
# trial it stops spends no budget and runs again in the next job.

set -euo pipefail
SPEC=${1:?usage: sbatch --array=0-N examples/slurm_workers.sh SPEC STORAGE_URL}
STORAGE=${2:?usage: sbatch --array=0-N examples/slurm_workers.sh SPEC STORAGE_URL}
RUN_DIR=${RUNS_DIR:-runs}/$(python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['name'])" "$SPEC")

exec harness worker "$RUN_DIR" --spec "$SPEC" --storage "$STORAGE" --device cuda
