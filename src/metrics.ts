/** Evaluation metrics for labelled data (label 1 = anomaly). */

function check(scores: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (scores.length !== labels.length) throw new RangeError(`scores has ${scores.length} values but labels has ${labels.length}`);
}

/** Area under the ROC curve, ties counted as one half (Mann-Whitney U). */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  check(scores, labels);
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSum = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]] > 0) { pos++; rankSum += avgRank; }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) throw new RangeError('rocAuc needs both anomalies (label 1) and normal rows (label 0)');
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Average precision (area under the precision-recall curve, step interpolation as sklearn). */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  check(scores, labels);
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let totalPos = 0;
  for (let i = 0; i < n; i++) if (labels[i] > 0) totalPos++;
  if (totalPos === 0) throw new RangeError('averagePrecision needs at least one anomaly (label 1)');
  let tp = 0;
  let ap = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[i]]) j++;
    let newTp = 0;
    for (let k = i; k <= j; k++) if (labels[idx[k]] > 0) newTp++;
    tp += newTp;
    ap += (newTp / totalPos) * (tp / (j + 1));
    i = j + 1;
  }
  return ap;
}
