#!/usr/bin/env bash
# LibriSpeech (960 h) for `zipasr train recipes/librispeech/<size>.yaml`: download, lhotse
# manifests, and the cut sets the configs read. Features are computed on the fly while training.
#
#   DL_DIR=download OUT_DIR=data/manifests STAGE=0 recipes/librispeech/prepare.sh
#
# STAGE=1 skips the download (the corpus is already in $DL_DIR/LibriSpeech); PARTS narrows the
# parts (e.g. PARTS="train-clean-100 dev-clean"). Needs lhotse (pip install "zipasr[data]").
set -euo pipefail

dl_dir=${DL_DIR:-download}
out=${OUT_DIR:-data/manifests}
stage=${STAGE:-0}
jobs=${JOBS:-4}
parts=${PARTS:-"train-clean-100 train-clean-360 train-other-500 dev-clean dev-other test-clean test-other"}

# combine OUT IN...: `lhotse combine` needs two or more inputs; one is copied.
combine() {
  local target=$1
  shift
  if [ $# -eq 1 ]; then cp "$1" "$target"; elif [ $# -gt 1 ]; then lhotse combine "$@" "$target"; fi
}

if [ "$stage" -le 0 ]; then
  echo "stage 0: download LibriSpeech into $dl_dir (about 60 GB)"
  lhotse download librispeech --full "$dl_dir"
fi

if [ "$stage" -le 1 ]; then
  echo "stage 1: recording and supervision manifests in $out"
  part_args=()
  for part in $parts; do part_args+=(-p "$part"); done
  lhotse prepare librispeech -j "$jobs" "${part_args[@]}" "$dl_dir/LibriSpeech" "$out"
fi

if [ "$stage" -le 2 ]; then
  echo "stage 2: one cut set per part, then train (all training parts) and dev (clean + other)"
  train_cuts=()
  dev_cuts=()
  for part in $parts; do
    lhotse cut simple --force-eager \
      -r "$out/librispeech_recordings_$part.jsonl.gz" \
      -s "$out/librispeech_supervisions_$part.jsonl.gz" \
      "$out/cuts_$part.jsonl.gz"
    case $part in
      train-*) train_cuts+=("$out/cuts_$part.jsonl.gz") ;;
      dev-*) dev_cuts+=("$out/cuts_$part.jsonl.gz") ;;
    esac
  done
  combine "$out/cuts_train.jsonl.gz" "${train_cuts[@]}"
  combine "$out/cuts_dev.jsonl.gz" "${dev_cuts[@]}"
fi

echo "done: train with  zipasr train recipes/librispeech/medium.yaml"
echo "      decode with zipasr decode exp/medium/model $out/cuts_test-clean.jsonl.gz"
