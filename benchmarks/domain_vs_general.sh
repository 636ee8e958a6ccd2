#!/usr/bin/env bash
# Domain vs general pretraining at equal compute: the corpora, vocabularies, TFRecords, the two pretraining runs
# side by side (one core each, nice 19), their check and their ports, then the fine-tuned table.
# docs/pretraining.md ("Domain vs general pretraining at equal compute") explains every choice.
#
#   benchmarks/domain_vs_general.sh [STAGE ...]     stages: data runs check compare ship (default: all five)
#
# Rerunning resumes: data skips what exists, `runs` continues each run from its newest checkpoint.
# Environment: OUT (var/dvg), STEPS (5000), WARMUP (STEPS / 10), RUNS ("general domain": the runs `runs` starts,
# one core each, and the later stages read), TASKS (compare's; default all four), SHARED (../shared/data),
# PY (.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-var/dvg} STEPS=${STEPS:-5000} RUNS=${RUNS:-general domain} S=${SHARED:-../shared/data} PY=${PY:-.venv/bin/python}
WARMUP=${WARMUP:-$((STEPS / 10))}
export DEBUG=${DEBUG:-1}
FIELDS=good_text,bad_text,review_text,review,text,document,content,context,premise,hypothesis,sentence1,sentence2,Q,A

corpus() {  # OUT PROFILE LINES-RULES [more sources]
  local out=$1 p=$2 lines=$3
  shift 3
  [ -d "$out/shards" ] && return
  $PY manage.py build_corpus --text-fields $FIELDS --out "$out" \
    --source nsmc_train=csv:$S/nsmc/ratings_train.txt:$p \
    --source nsmc_raw_extra=csv:$S/nsmc_raw_extra/naver_movie_reviews_extra.tsv:$p \
    --source petitions=jsonl:$S/petitions_2017_08/petitions_2017-08:$p \
    --source klue_nli=jsonl:$S/klue_dev/klue-nli-v1.1_dev.json:$p \
    --source klue_sts=jsonl:$S/klue_dev/klue-sts-v1.1_dev.json:$p \
    --source kor_nlu=csv:$S/kor_nlu:$p --source chatbot=csv:$S/chatbot_data/ChatbotData.csv:$p \
    --source hate_speech_unlabelled=text:$S/korean_hate_speech/unlabeled/unlabeled_comments_5.txt:$lines "$@"
}

data() {
  [ -f $OUT/heldout.jsonl ] || $PY benchmarks/domain_vs_general.py prepare --out $OUT
  printf 'profile = "public"\ndocuments = "line"\n' > $OUT/public-lines.toml
  printf 'profile = "review"\ndocuments = "line"\n' > $OUT/review-lines.toml
  corpus $OUT/corpus/general public $OUT/public-lines.toml
  corpus $OUT/corpus/domain review $OUT/review-lines.toml --source oliveyoung=jsonl:$OUT/oliveyoung_pretraining.jsonl:review
  [ -d $OUT/corpus/heldout/shards ] || $PY manage.py build_corpus --source heldout=jsonl:$OUT/heldout.jsonl:review --out $OUT/corpus/heldout
  for c in general domain; do
    [ -f $OUT/tok/$c/tokenizer.json ] || $PY manage.py train_tokenizer --corpus $OUT/corpus/$c --out $OUT/tok/$c \
      --vocab-size 35000 --min-frequency 9
    [ -d $OUT/tfrecords/$c ] || $PY manage.py build_pretraining_data $OUT/corpus/$c/shards --tokenizer $OUT/tok/$c \
      --output $OUT/tfrecords/$c --max-seq-length 64 --num-out-files 8 --join-documents 8
    [ -d $OUT/heldout/$c ] || $PY manage.py build_pretraining_data $OUT/corpus/heldout/shards --tokenizer $OUT/tok/$c \
      --output $OUT/heldout/$c --max-seq-length 64 --num-out-files 1
  done
}

run() {  # CORPUS CORE: the same flags for both
  nice -n 19 taskset -c $2 $PY manage.py pretrain_plm --data $OUT/tfrecords/$1 \
    --tokenizer $OUT/tok/$1 --output $OUT/runs/$1 --hidden-size 256 --num-hidden-layers 4 \
    --embedding-size 128 --max-seq-length 64 --train-batch-size 32 --learning-rate 2e-4 \
    --num-train-steps $STEPS --num-warmup-steps $WARMUP --save-checkpoints-steps 500 --keep-checkpoint-max 0 --seed 0
}

runs() {
  local core=0
  for c in $RUNS; do
    run $c $core > $OUT/$c.log 2>&1 &
    core=$((core + 1))
  done
  wait
}

check() {
  for c in $RUNS; do
    $PY manage.py evaluate_pretraining $OUT/runs/$c --data $OUT/heldout/$c
    $PY manage.py port_checkpoint $OUT/runs/$c --output $OUT/hf/$c --verify
  done
}

compare() {  # with one run (RUNS=general): that run against random weights
  local models=() inits=()
  for c in $RUNS; do models+=(--$c $OUT/hf/$c) inits+=($c); done
  $PY benchmarks/domain_vs_general.py compare "${models[@]}" --inits "${inits[@]}" random ${TASKS:+--tasks $TASKS}
}

ship() {  # the better run (with RUNS naming one: that one) → models/pretrained-electra
  local runs=($RUNS)
  $PY benchmarks/domain_vs_general.py ship --work $OUT $([ ${#runs[@]} = 1 ] && echo --init ${runs[0]})
}

for stage in "${@:-data runs check compare ship}"; do
  for s in $stage; do $s; done
done
