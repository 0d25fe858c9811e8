#!/usr/bin/env bash
# Mutation check of the Raft simulator: runs the campaign against copies of
# the core with one classic Raft bug each (raft_sim_mutant_N, built by
# tests/sim/CMakeLists.txt from node.cc with -DTELEMQ_RAFT_MUTANT=N) and
# fails unless every mutant is caught. Prints, per mutant, the invariant that
# caught it and how many seeds it took. Registered as ctest raft_mutation_check.
#
#   mutation_check.sh <tests/sim build dir> [max seeds per mutant]
set -uo pipefail

dir=${1:?build dir of tests/sim}
max_seeds=${2:-${TELEMQ_MUTATION_SEEDS:-2000}}

names=(
  [1]="commit an older term's entry by counting replicas (no §5.4.2 check)"
  [2]="grant a vote without the log up-to-date check (§5.4.1)"
  [3]="vote twice in one term (§5.2)"
  [4]="keep a conflicting entry when offsets match (no suffix truncation, §5.3)"
  [5]="leader counts its own copy before it is durable"
  [6]="follower acks an append before persisting it"
  [7]="accept an append of a stale term (§5.1)"
  [8]="follower commit = min(leader commit, own last offset), taken before the prev check"
  [9]="leader adopts a higher term without stepping down"
  [10]="vote response leaves before the vote is persisted"
  [11]="heartbeat carries the leader's full commit, not min(commit, match)"
  [12]="candidate counts pre-vote grants as votes"
  [13]="fsync interval: a node that lost acked entries votes at once (no abstention)"
  [14]="learners' copies counted towards the commit majority (thesis §4.2.1)"
  [15]="a learner campaigns on election timeout (thesis §4.2.1)"
)

start=$(date +%s)
missed=0
printf '%-4s %-78s %-8s %s\n' "id" "mutant" "seeds" "caught by"
for n in "${!names[@]}"; do
  bin="$dir/raft_sim_mutant_$n"
  if [[ ! -x "$bin" ]]; then
    echo "mutation_check: $bin not built (cmake --build <dir> --target raft_mutants)"
    exit 1
  fi
  out=$("$bin" --seeds "$max_seeds" --quiet 2>&1)
  line=$(grep -m1 -E '^FAIL seed|invariant violated|aborted in seed' <<<"$out")
  if [[ -z "$line" ]]; then
    printf '%-4s %-78s %-8s %s\n' "$n" "${names[$n]}" ">$max_seeds" "NOT CAUGHT"
    missed=$((missed + 1))
    continue
  fi
  seed=$(grep -oE 'seed [0-9]+' <<<"$out" | head -1 | grep -oE '[0-9]+')
  what=$(sed -E 's/^FAIL seed [0-9]+: t=[0-9]+: //; s/^telemq: //' <<<"$line" | cut -c1-90)
  printf '%-4s %-78s %-8s %s\n' "$n" "${names[$n]}" "${seed:-?}" "$what"
done
echo "mutation_check: $(( ${#names[@]} - missed )) of ${#names[@]} mutants caught in $(( $(date +%s) - start )) s"
[[ $missed -eq 0 ]]
