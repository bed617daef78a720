;; The transformer engine's WebAssembly SIMD kernel (design_docs/trainer.md, "The transformer on
;; the wasm kernel"): a cache-blocked product for the wide right operands of a transformer step
;; (activations kept transposed, [features, N] with N = batch x window = 2,048 columns).
;;
;; Built into trainer/transformer-kernel-wasm.ts by `npm run build:kernels` (wabt's wat2wasm); a
;; test rebuilds it and checks the committed module is this file's.
;;
;; It shares the memory of the dense engine's kernel (trainer/dense-kernel.wat), imported as
;; env.memory: the same buffers are operands of both modules' functions.
;;
;; Why a second product: dense-kernel.wat's rows_times walks a whole output row at a time, i.e.
;; all N columns of R per row of L: with N = 2,048 every step of its inner loop reads 128 bytes
;; 8 KB apart (a new page each), and R (1 MB) is streamed from memory once per row of L. Here R
;; is cut into panels of 16 columns, each copied once into a contiguous scratch ([k, 16], 8-32
;; KB: L1) and multiplied by every row of L, two rows at a time (8 accumulators of 4 lanes: each
;; panel load serves two rows, 6 loads per 16 multiply/adds instead of 9).
;;
;; As written, fixed-width SIMD only: every output element of gemm is summed in one fixed order
;; (p = 0, 1, ..., k - 1, each step a float32 multiply then a float32 add, from +0), then scaled
;; by alpha and, with acc, added to C's element: the bits of the plain-JS reference in
;; trainer/transformer-kernel.test.ts, on every machine, whatever the panel (full or partial).
;; scripts/kernels.ts also builds a fused variant: each accumulation `(f32x4.add (local.get $aN)
;; (f32x4.mul x y))` of gemm's loops becomes relaxed SIMD's `f32x4.relaxed_madd x y $aN` (FMA
;; where the CPU has it); the loader (trainer/transformer-kernel.ts) picks it where relaxed SIMD
;; validates. Only gemm's accumulators are named $a0..$a7: nothing else is rewritten.
(module
  (import "env" "memory" (memory 1))

  ;; panel[p * 16 + j] = r[p * n + col + j] for p < k, j < width (<= 16), 0 for width <= j < 16.
  (func $pack (param $r i32) (param $k i32) (param $n i32) (param $col i32) (param $width i32)
    (param $panel i32)
    (local $p i32) (local $src i32) (local $dst i32) (local $j i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $n) (i32.const 2)))
    (local.set $src (i32.add (local.get $r) (i32.shl (local.get $col) (i32.const 2))))
    (local.set $dst (local.get $panel))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (if (i32.eq (local.get $width) (i32.const 16))
          (then
            (v128.store offset=0 align=4 (local.get $dst) (v128.load offset=0 align=4 (local.get $src)))
            (v128.store offset=16 align=4 (local.get $dst) (v128.load offset=16 align=4 (local.get $src)))
            (v128.store offset=32 align=4 (local.get $dst) (v128.load offset=32 align=4 (local.get $src)))
            (v128.store offset=48 align=4 (local.get $dst) (v128.load offset=48 align=4 (local.get $src))))
          (else
            (local.set $j (i32.const 0))
            (block $filled
              (loop $each
                (br_if $filled (i32.ge_u (local.get $j) (i32.const 16)))
                (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
                  (if (result f32) (i32.lt_u (local.get $j) (local.get $width))
                    (then (f32.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2)))))
                    (else (f32.const 0))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $each)))))
        (local.set $src (i32.add (local.get $src) (local.get $stride)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $rows))))

  ;; out[0..width) (=|+=) alpha * [v0 v1 v2 v3][0..width): one row of a panel's results; a
  ;; partial one (width < 16) through tmp (16 floats) and scalar stores.
  (func $store16 (param $out i32) (param $v0 v128) (param $v1 v128) (param $v2 v128) (param $v3 v128)
    (param $av v128) (param $alpha f32) (param $acc i32) (param $width i32) (param $tmp i32)
    (local $j i32) (local $s f32)
    (if (i32.eq (local.get $width) (i32.const 16))
      (then
        (local.set $v0 (f32x4.mul (local.get $av) (local.get $v0)))
        (local.set $v1 (f32x4.mul (local.get $av) (local.get $v1)))
        (local.set $v2 (f32x4.mul (local.get $av) (local.get $v2)))
        (local.set $v3 (f32x4.mul (local.get $av) (local.get $v3)))
        (if (local.get $acc)
          (then
            (local.set $v0 (f32x4.add (v128.load offset=0 align=4 (local.get $out)) (local.get $v0)))
            (local.set $v1 (f32x4.add (v128.load offset=16 align=4 (local.get $out)) (local.get $v1)))
            (local.set $v2 (f32x4.add (v128.load offset=32 align=4 (local.get $out)) (local.get $v2)))
            (local.set $v3 (f32x4.add (v128.load offset=48 align=4 (local.get $out)) (local.get $v3)))))
        (v128.store offset=0 align=4 (local.get $out) (local.get $v0))
        (v128.store offset=16 align=4 (local.get $out) (local.get $v1))
        (v128.store offset=32 align=4 (local.get $out) (local.get $v2))
        (v128.store offset=48 align=4 (local.get $out) (local.get $v3)))
      (else
        (v128.store offset=0 (local.get $tmp) (local.get $v0))
        (v128.store offset=16 (local.get $tmp) (local.get $v1))
        (v128.store offset=32 (local.get $tmp) (local.get $v2))
        (v128.store offset=48 (local.get $tmp) (local.get $v3))
        (block $stored
          (loop $each
            (br_if $stored (i32.ge_u (local.get $j) (local.get $width)))
            (local.set $s (f32.mul (local.get $alpha)
              (f32.load (i32.add (local.get $tmp) (i32.shl (local.get $j) (i32.const 2))))))
            (if (local.get $acc)
              (then (local.set $s (f32.add (f32.load (local.get $out)) (local.get $s)))))
            (f32.store (local.get $out) (local.get $s))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $each))))))

  ;; The p range [from, to) that rows i .. i + rows - 1 of L need to sum for the panel at col
  ;; (tri as in gemm).
  (func $kRange (param $tri i32) (param $i i32) (param $rows i32) (param $k i32) (param $col i32)
    (result i32 i32)
    (local $to i32)
    (if (i32.eq (local.get $tri) (i32.const 4))
      (then
        (if (i32.gt_u (local.get $col) (local.get $k)) (then (return (local.get $k) (local.get $k))))
        (return (local.get $col) (local.get $k))))
    (if (i32.eq (local.get $tri) (i32.const 2))
      (then
        (local.set $to (i32.add (local.get $i) (local.get $rows)))
        (if (i32.gt_u (local.get $to) (local.get $k)) (then (local.set $to (local.get $k))))
        (return (i32.const 0) (local.get $to))))
    (if (i32.eq (local.get $tri) (i32.const 3))
      (then
        (if (i32.gt_u (local.get $i) (local.get $k)) (then (return (local.get $k) (local.get $k))))
        (return (local.get $i) (local.get $k))))
    (i32.const 0) (local.get $k))

  ;; C[m, n] (=|+=) alpha * L[m, k] R[k, n], all row-major. panel: 16 k floats + 16 floats of
  ;; scratch (a partial panel's results before their scalar stores).
  ;;
  ;; tri says which part of the product is needed or nonzero (causal attention's triangles):
  ;;   0: all of it;
  ;;   1: only C[i, j] with j <= i (rows i < col of a panel at col are skipped; the entries above
  ;;      the diagonal may or may not be written);
  ;;   2: L is lower-triangular (L[i, p] = 0 for p > i): row i sums p = 0 .. min(i + 1, k) - 1
  ;;      (a pair of rows to i + 1);
  ;;   3: L is upper-triangular (L[i, p] = 0 for p < i): row i sums p = i .. k - 1 (a pair from i);
  ;;   4: R is lower-triangular (R[p, j] = 0 for j > p): a panel at col sums p = col .. k - 1.
  ;; Skipped terms are products with an L of +0 or -0 (finite R): adding them changes no bit (the
  ;; sums start at +0 and never become -0), so 2, 3 and 4 give the bits of the whole product on
  ;; such an L or R.
  (func (export "gemm") (param $l i32) (param $m i32) (param $k i32) (param $r i32) (param $n i32)
    (param $c i32) (param $alpha f32) (param $acc i32) (param $panel i32) (param $tri i32)
    (local $col i32) (local $width i32) (local $i i32) (local $lp i32) (local $lend i32) (local $pp i32)
    (local $tmp i32) (local $rowBytes i32) (local $outRow i32) (local $kFrom i32) (local $kTo i32)
    (local $w0 v128) (local $w1 v128) (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128)
    (local $av v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $av (f32x4.splat (local.get $alpha)))
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    (local.set $tmp (i32.add (local.get $panel) (i32.shl (local.get $k) (i32.const 6))))
    (block $doneCols
      (loop $cols
        (br_if $doneCols (i32.ge_u (local.get $col) (local.get $n)))
        (local.set $width (i32.sub (local.get $n) (local.get $col)))
        (if (i32.gt_u (local.get $width) (i32.const 16)) (then (local.set $width (i32.const 16))))
        (call $pack (local.get $r) (local.get $k) (local.get $n) (local.get $col) (local.get $width)
          (local.get $panel))
        (local.set $i (i32.const 0))
        (if (i32.eq (local.get $tri) (i32.const 1))
          (then
            (local.set $i (local.get $col))
            (if (i32.gt_u (local.get $i) (local.get $m)) (then (local.set $i (local.get $m))))))
        ;; two rows of L at a time: rows i and i + 1 (row i + 1 at lp + rowBytes)
        (block $doneRows
          (loop $rows
            (br_if $doneRows (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $m)))
            (call $kRange (local.get $tri) (local.get $i) (i32.const 2) (local.get $k) (local.get $col))
            (local.set $kTo)
            (local.set $kFrom)
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $a4 (v128.const i32x4 0 0 0 0))
            (local.set $a5 (v128.const i32x4 0 0 0 0))
            (local.set $a6 (v128.const i32x4 0 0 0 0))
            (local.set $a7 (v128.const i32x4 0 0 0 0))
            (local.set $lp (i32.add (local.get $l) (i32.shl
              (i32.add (i32.mul (local.get $i) (local.get $k)) (local.get $kFrom)) (i32.const 2))))
            (local.set $lend (i32.add (local.get $lp)
              (i32.shl (i32.sub (local.get $kTo) (local.get $kFrom)) (i32.const 2))))
            (local.set $pp (i32.add (local.get $panel) (i32.shl (local.get $kFrom) (i32.const 6))))
            (block $doneK
              (loop $ks
                (br_if $doneK (i32.ge_u (local.get $lp) (local.get $lend)))
                (local.set $w0 (v128.load32_splat align=4 (local.get $lp)))
                (local.set $w1 (v128.load32_splat align=4 (i32.add (local.get $lp) (local.get $rowBytes))))
                (local.set $p0 (v128.load offset=0 (local.get $pp)))
                (local.set $p1 (v128.load offset=16 (local.get $pp)))
                (local.set $p2 (v128.load offset=32 (local.get $pp)))
                (local.set $p3 (v128.load offset=48 (local.get $pp)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w0) (local.get $p0))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w0) (local.get $p1))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w0) (local.get $p2))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w0) (local.get $p3))))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $w1) (local.get $p0))))
                (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $w1) (local.get $p1))))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $w1) (local.get $p2))))
                (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $w1) (local.get $p3))))
                (local.set $pp (i32.add (local.get $pp) (i32.const 64)))
                (local.set $lp (i32.add (local.get $lp) (i32.const 4)))
                (br $ks)))
            (local.set $outRow (i32.add (local.get $c)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $col)) (i32.const 2))))
            (call $store16 (local.get $outRow) (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)
              (local.get $av) (local.get $alpha) (local.get $acc) (local.get $width) (local.get $tmp))
            (call $store16 (i32.add (local.get $outRow) (i32.shl (local.get $n) (i32.const 2)))
              (local.get $a4) (local.get $a5) (local.get $a6) (local.get $a7)
              (local.get $av) (local.get $alpha) (local.get $acc) (local.get $width) (local.get $tmp))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $rows)))
        ;; the last row when m is odd
        (if (i32.lt_u (local.get $i) (local.get $m))
          (then
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (call $kRange (local.get $tri) (local.get $i) (i32.const 1) (local.get $k) (local.get $col))
            (local.set $kTo)
            (local.set $kFrom)
            (local.set $lp (i32.add (local.get $l) (i32.shl
              (i32.add (i32.mul (local.get $i) (local.get $k)) (local.get $kFrom)) (i32.const 2))))
            (local.set $lend (i32.add (local.get $lp)
              (i32.shl (i32.sub (local.get $kTo) (local.get $kFrom)) (i32.const 2))))
            (local.set $pp (i32.add (local.get $panel) (i32.shl (local.get $kFrom) (i32.const 6))))
            (block $doneK1
              (loop $ks1
                (br_if $doneK1 (i32.ge_u (local.get $lp) (local.get $lend)))
                (local.set $w0 (v128.load32_splat align=4 (local.get $lp)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w0) (v128.load offset=0 (local.get $pp)))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w0) (v128.load offset=16 (local.get $pp)))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w0) (v128.load offset=32 (local.get $pp)))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w0) (v128.load offset=48 (local.get $pp)))))
                (local.set $pp (i32.add (local.get $pp) (i32.const 64)))
                (local.set $lp (i32.add (local.get $lp) (i32.const 4)))
                (br $ks1)))
            (call $store16
              (i32.add (local.get $c)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $col)) (i32.const 2)))
              (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)
              (local.get $av) (local.get $alpha) (local.get $acc) (local.get $width) (local.get $tmp))))
        (local.set $col (i32.add (local.get $col) (i32.const 16)))
        (br $cols))))

  ;; ---- the plain loops of a step, 4 lanes at a time: LayerNorm over the columns of [d, N], GELU.
  ;; Elementwise arithmetic is float32 multiply, add, divide, sqrt, each rounded (no fused
  ;; multiply-add in either build: both give the same bits here).

  ;; All ones in the lanes c + lane < n (columns that exist), zeros beyond.
  (func $laneMask (param $c i32) (param $n i32) (result v128)
    (i32x4.lt_s (i32x4.add (i32x4.splat (local.get $c)) (v128.const i32x4 0 1 2 3))
      (i32x4.splat (local.get $n))))

  ;; mem[at .. at + 16) = v in the mask's lanes, unchanged elsewhere (a partial group of columns:
  ;; the lanes beyond are the next row's first columns, written back as they were).
  (func $storeMasked (param $at i32) (param $v v128) (param $mask v128)
    (v128.store align=4 (local.get $at)
      (v128.bitselect (local.get $v) (v128.load align=4 (local.get $at)) (local.get $mask))))

  ;; The sum of a vector's lanes, 0 + 1 + 2 + 3 in that order.
  (func $lanesSum (param $v v128) (result f32)
    (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32x4.extract_lane 2 (local.get $v))) (f32x4.extract_lane 3 (local.get $v))))

  ;; LayerNorm of each column of x [d, n] into a [d, n]: mean[c], rstd[c] = 1 / sqrt(var + 1e-5)
  ;; (biased variance), a = (x - mean) rstd gamma[r] + beta[r]. Four columns per step; the last
  ;; group may be partial (it reads up to 3 floats past a row, past x's end on its last row: the
  ;; caller keeps 16 bytes after every buffer in the memory).
  (func (export "layer_norm") (param $x i32) (param $a i32) (param $mean i32) (param $rstd i32)
    (param $gamma i32) (param $beta i32) (param $d i32) (param $n i32)
    (local $c i32) (local $r i32) (local $at i32) (local $stride i32) (local $col i32)
    (local $mask v128) (local $s v128) (local $mu v128) (local $e v128) (local $rs v128) (local $inv v128)
    (local.set $stride (i32.shl (local.get $n) (i32.const 2)))
    (local.set $inv (f32x4.splat (f32.div (f32.const 1) (f32.convert_i32_u (local.get $d)))))
    (block $done
      (loop $cols
        (br_if $done (i32.ge_u (local.get $c) (local.get $n)))
        (local.set $mask (call $laneMask (local.get $c) (local.get $n)))
        (local.set $col (i32.shl (local.get $c) (i32.const 2)))
        ;; mean
        (local.set $s (v128.const i32x4 0 0 0 0))
        (local.set $at (i32.add (local.get $x) (local.get $col)))
        (local.set $r (i32.const 0))
        (block $m
          (loop $rows
            (br_if $m (i32.ge_u (local.get $r) (local.get $d)))
            (local.set $s (f32x4.add (local.get $s) (v128.load align=4 (local.get $at))))
            (local.set $at (i32.add (local.get $at) (local.get $stride)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $mu (f32x4.mul (local.get $s) (local.get $inv)))
        ;; variance
        (local.set $s (v128.const i32x4 0 0 0 0))
        (local.set $at (i32.add (local.get $x) (local.get $col)))
        (local.set $r (i32.const 0))
        (block $v
          (loop $rows
            (br_if $v (i32.ge_u (local.get $r) (local.get $d)))
            (local.set $e (f32x4.sub (v128.load align=4 (local.get $at)) (local.get $mu)))
            (local.set $s (f32x4.add (local.get $s) (f32x4.mul (local.get $e) (local.get $e))))
            (local.set $at (i32.add (local.get $at) (local.get $stride)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $rs (f32x4.div (f32x4.splat (f32.const 1))
          (f32x4.sqrt (f32x4.add (f32x4.mul (local.get $s) (local.get $inv)) (f32x4.splat (f32.const 1e-5))))))
        (call $storeMasked (i32.add (local.get $mean) (local.get $col)) (local.get $mu) (local.get $mask))
        (call $storeMasked (i32.add (local.get $rstd) (local.get $col)) (local.get $rs) (local.get $mask))
        ;; a = (x - mean) rstd gamma + beta
        (local.set $r (i32.const 0))
        (block $w
          (loop $rows
            (br_if $w (i32.ge_u (local.get $r) (local.get $d)))
            (local.set $at (i32.add (i32.mul (local.get $r) (local.get $stride)) (local.get $col)))
            (call $storeMasked (i32.add (local.get $a) (local.get $at))
              (f32x4.add
                (f32x4.mul
                  (f32x4.mul (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $at))) (local.get $mu))
                    (local.get $rs))
                  (v128.load32_splat align=4 (i32.add (local.get $gamma) (i32.shl (local.get $r) (i32.const 2)))))
                (v128.load32_splat align=4 (i32.add (local.get $beta) (i32.shl (local.get $r) (i32.const 2)))))
              (local.get $mask))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $cols))))

  ;; LayerNorm's backward given da [d, n] (its output's gradient), x, mean and rstd of the
  ;; forward: dx (+=) rstd (da gamma - s1 - xhat s2) with xhat = (x - mean) rstd, s1 = mean over
  ;; the rows of da gamma, s2 = of da gamma xhat; dgamma[r] = sum over the columns of da xhat,
  ;; dbeta[r] = of da (per lane first, the lanes summed at the end: scratch of 8 d floats).
  (func (export "layer_norm_backward") (param $x i32) (param $da i32) (param $mean i32) (param $rstd i32)
    (param $gamma i32) (param $dx i32) (param $dgamma i32) (param $dbeta i32) (param $scratch i32)
    (param $d i32) (param $n i32)
    (local $c i32) (local $r i32) (local $at i32) (local $stride i32) (local $col i32) (local $sc i32)
    (local $mask v128) (local $mu v128) (local $rs v128) (local $inv v128) (local $s1 v128) (local $s2 v128)
    (local $xhat v128) (local $dav v128) (local $gd v128)
    (local.set $stride (i32.shl (local.get $n) (i32.const 2)))
    (local.set $inv (f32x4.splat (f32.div (f32.const 1) (f32.convert_i32_u (local.get $d)))))
    (memory.fill (local.get $scratch) (i32.const 0) (i32.shl (local.get $d) (i32.const 5)))
    (block $done
      (loop $cols
        (br_if $done (i32.ge_u (local.get $c) (local.get $n)))
        (local.set $mask (call $laneMask (local.get $c) (local.get $n)))
        (local.set $col (i32.shl (local.get $c) (i32.const 2)))
        (local.set $mu (v128.load align=4 (i32.add (local.get $mean) (local.get $col))))
        (local.set $rs (v128.load align=4 (i32.add (local.get $rstd) (local.get $col))))
        (local.set $s1 (v128.const i32x4 0 0 0 0))
        (local.set $s2 (v128.const i32x4 0 0 0 0))
        (local.set $r (i32.const 0))
        (local.set $sc (local.get $scratch))
        (block $sums
          (loop $rows
            (br_if $sums (i32.ge_u (local.get $r) (local.get $d)))
            (local.set $at (i32.add (i32.mul (local.get $r) (local.get $stride)) (local.get $col)))
            (local.set $xhat (f32x4.mul
              (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $at))) (local.get $mu)) (local.get $rs)))
            (local.set $dav (v128.and (v128.load align=4 (i32.add (local.get $da) (local.get $at))) (local.get $mask)))
            (local.set $gd (f32x4.mul (local.get $dav)
              (v128.load32_splat align=4 (i32.add (local.get $gamma) (i32.shl (local.get $r) (i32.const 2))))))
            (local.set $s1 (f32x4.add (local.get $s1) (local.get $gd)))
            (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $gd) (local.get $xhat))))
            (v128.store (local.get $sc) (f32x4.add (v128.load (local.get $sc))
              (v128.and (f32x4.mul (local.get $dav) (local.get $xhat)) (local.get $mask))))
            (v128.store offset=16 (local.get $sc) (f32x4.add (v128.load offset=16 (local.get $sc)) (local.get $dav)))
            (local.set $sc (i32.add (local.get $sc) (i32.const 32)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $s1 (f32x4.mul (local.get $s1) (local.get $inv)))
        (local.set $s2 (f32x4.mul (local.get $s2) (local.get $inv)))
        (local.set $r (i32.const 0))
        (block $grads
          (loop $rows
            (br_if $grads (i32.ge_u (local.get $r) (local.get $d)))
            (local.set $at (i32.add (i32.mul (local.get $r) (local.get $stride)) (local.get $col)))
            (local.set $xhat (f32x4.mul
              (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $at))) (local.get $mu)) (local.get $rs)))
            (local.set $gd (f32x4.mul (v128.load align=4 (i32.add (local.get $da) (local.get $at)))
              (v128.load32_splat align=4 (i32.add (local.get $gamma) (i32.shl (local.get $r) (i32.const 2))))))
            (call $storeMasked (i32.add (local.get $dx) (local.get $at))
              (f32x4.add (v128.load align=4 (i32.add (local.get $dx) (local.get $at)))
                (f32x4.mul (local.get $rs)
                  (f32x4.sub (f32x4.sub (local.get $gd) (local.get $s1)) (f32x4.mul (local.get $xhat) (local.get $s2)))))
              (local.get $mask))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $cols)))
    (local.set $r (i32.const 0))
    (local.set $sc (local.get $scratch))
    (block $end
      (loop $rows
        (br_if $end (i32.ge_u (local.get $r) (local.get $d)))
        (f32.store (i32.add (local.get $dgamma) (i32.shl (local.get $r) (i32.const 2)))
          (call $lanesSum (v128.load (local.get $sc))))
        (f32.store (i32.add (local.get $dbeta) (i32.shl (local.get $r) (i32.const 2)))
          (call $lanesSum (v128.load offset=16 (local.get $sc))))
        (local.set $sc (i32.add (local.get $sc) (i32.const 32)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; e^x per lane (Cephes' expf: x = n ln 2 + f, |f| <= ln 2 / 2, a degree-7 polynomial for e^f,
  ;; 2^n from the exponent bits; ~1-2 ulp), x clamped to [-87, 88] (2^n stays a normal float).
  (func $exp4 (param $x v128) (result v128)
    (local $k v128) (local $f v128) (local $p v128)
    (local.set $x (f32x4.min (f32x4.max (local.get $x) (f32x4.splat (f32.const -87))) (f32x4.splat (f32.const 88))))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504088896341)))))
    (local.set $f (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 0.693359375)))))
    (local.set $f (f32x4.sub (local.get $f) (f32x4.mul (local.get $k) (f32x4.splat (f32.const -2.12194440e-4)))))
    (local.set $p (f32x4.splat (f32.const 1.9875691500e-4)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 1.3981999507e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 8.3334519073e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 4.1665795894e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 1.6666665459e-1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 5.0000001201e-1))))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $f)) (local.get $f))
      (local.get $f)) (f32x4.splat (f32.const 1))))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; GELU in its tanh form per lane: th = tanh(sqrt(2/pi) (x + 0.044715 x^3)) = 1 - 2 / (e^2u + 1),
  ;; out = 0.5 x (1 + th). Returns out, th.
  (func $gelu4 (param $x v128) (result v128 v128)
    (local $th v128)
    (local.set $th (f32x4.sub (f32x4.splat (f32.const 1))
      (f32x4.div (f32x4.splat (f32.const 2))
        (f32x4.add (f32x4.splat (f32.const 1))
          (call $exp4 (f32x4.mul (f32x4.splat (f32.const 1.5957691216057308))
            (f32x4.add (local.get $x)
              (f32x4.mul (f32x4.splat (f32.const 0.044715))
                (f32x4.mul (f32x4.mul (local.get $x) (local.get $x)) (local.get $x))))))))))
    (f32x4.mul (f32x4.mul (f32x4.splat (f32.const 0.5)) (local.get $x))
      (f32x4.add (f32x4.splat (f32.const 1)) (local.get $th)))
    (local.get $th))

  ;; d act'(x) per lane, th the forward's tanh term:
  ;; d (0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 0.044715 x^2)).
  (func $geluGrad4 (param $x v128) (param $th v128) (param $dv v128) (result v128)
    (f32x4.mul (local.get $dv)
      (f32x4.add
        (f32x4.mul (f32x4.splat (f32.const 0.5)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $th)))
        (f32x4.mul
          (f32x4.mul
            (f32x4.mul (f32x4.mul (f32x4.splat (f32.const 0.5)) (local.get $x))
              (f32x4.sub (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $th) (local.get $th))))
            (f32x4.splat (f32.const 0.7978845608028654)))
          (f32x4.add (f32x4.splat (f32.const 1))
            (f32x4.mul (f32x4.splat (f32.const 0.134145)) (f32x4.mul (local.get $x) (local.get $x))))))))

  ;; out[i] = GELU(z[i]), tanh[i] its tanh term, i < count (the last count mod 4 one lane at a time,
  ;; by the same arithmetic).
  (func (export "gelu") (param $z i32) (param $out i32) (param $tanh i32) (param $count i32)
    (local $i i32) (local $at i32) (local $o v128) (local $th v128)
    (block $done
      (loop $each
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $count)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (call $gelu4 (v128.load align=4 (i32.add (local.get $z) (local.get $at))))
        (local.set $th)
        (local.set $o)
        (v128.store align=4 (i32.add (local.get $out) (local.get $at)) (local.get $o))
        (v128.store align=4 (i32.add (local.get $tanh) (local.get $at)) (local.get $th))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $each)))
    (block $tail
      (loop $each
        (br_if $tail (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (call $gelu4 (f32x4.splat (f32.load (i32.add (local.get $z) (local.get $at)))))
        (local.set $th)
        (local.set $o)
        (f32.store (i32.add (local.get $out) (local.get $at)) (f32x4.extract_lane 0 (local.get $o)))
        (f32.store (i32.add (local.get $tanh) (local.get $at)) (f32x4.extract_lane 0 (local.get $th)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  ;; d[i] = d[i] GELU'(z[i]) in place, with the tanh terms `gelu` kept.
  (func (export "gelu_backward") (param $z i32) (param $d i32) (param $tanh i32) (param $count i32)
    (local $i i32) (local $at i32)
    (block $done
      (loop $each
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $count)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (v128.store align=4 (i32.add (local.get $d) (local.get $at))
          (call $geluGrad4 (v128.load align=4 (i32.add (local.get $z) (local.get $at)))
            (v128.load align=4 (i32.add (local.get $tanh) (local.get $at)))
            (v128.load align=4 (i32.add (local.get $d) (local.get $at)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $each)))
    (block $tail
      (loop $each
        (br_if $tail (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (f32.store (i32.add (local.get $d) (local.get $at))
          (f32x4.extract_lane 0
            (call $geluGrad4 (f32x4.splat (f32.load (i32.add (local.get $z) (local.get $at))))
              (f32x4.splat (f32.load (i32.add (local.get $tanh) (local.get $at))))
              (f32x4.splat (f32.load (i32.add (local.get $d) (local.get $at)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  ;; The largest of a vector's lanes.
  (func $lanesMax (param $v v128) (result f32)
    (f32.max (f32.max (f32.max (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32x4.extract_lane 2 (local.get $v))) (f32x4.extract_lane 3 (local.get $v))))

  ;; Each row i of P [t, t] (=) the softmax of its entries j <= i, 0 above the diagonal (causal
  ;; attention). Four entries per step; lanes past a row's end are never written (a partial
  ;; group reads up to 3 floats past the row, past P's end on its last row).
  (func (export "causal_softmax") (param $p i32) (param $t i32)
    (local $i i32) (local $j i32) (local $row i32) (local $at i32) (local $in v128) (local $inRow v128)
    (local $mx v128) (local $sum v128) (local $e v128) (local $inv v128)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $t)))
        (local.set $row (i32.add (local.get $p) (i32.shl (i32.mul (local.get $i) (local.get $t)) (i32.const 2))))
        ;; the row's largest entry j <= i
        (local.set $mx (f32x4.splat (f32.const -inf)))
        (local.set $j (i32.const 0))
        (block $m
          (loop $each
            (br_if $m (i32.gt_u (local.get $j) (local.get $i)))
            (local.set $in (call $laneMask (local.get $j) (i32.add (local.get $i) (i32.const 1))))
            (local.set $mx (f32x4.max (local.get $mx)
              (v128.bitselect (v128.load align=4 (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
                (f32x4.splat (f32.const -inf)) (local.get $in))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $each)))
        (local.set $mx (f32x4.splat (call $lanesMax (local.get $mx))))
        ;; e^(s - max), 0 above the diagonal, and their sum
        (local.set $sum (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $x
          (loop $each
            (br_if $x (i32.gt_u (local.get $j) (local.get $i)))
            (local.set $at (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $in (call $laneMask (local.get $j) (i32.add (local.get $i) (i32.const 1))))
            (local.set $inRow (call $laneMask (local.get $j) (local.get $t)))
            (local.set $e (v128.and (call $exp4 (f32x4.sub (v128.load align=4 (local.get $at)) (local.get $mx)))
              (local.get $in)))
            (local.set $sum (f32x4.add (local.get $sum) (local.get $e)))
            (call $storeMasked (local.get $at) (local.get $e) (local.get $inRow))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $each)))
        (local.set $inv (f32x4.splat (f32.div (f32.const 1) (call $lanesSum (local.get $sum)))))
        ;; scaled; the groups past the diagonal zeroed
        (local.set $j (i32.const 0))
        (block $w
          (loop $each
            (br_if $w (i32.ge_u (local.get $j) (local.get $t)))
            (local.set $at (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $inRow (call $laneMask (local.get $j) (local.get $t)))
            (call $storeMasked (local.get $at)
              (if (result v128) (i32.le_u (local.get $j) (local.get $i))
                (then (f32x4.mul (v128.load align=4 (local.get $at)) (local.get $inv)))
                (else (v128.const i32x4 0 0 0 0)))
              (local.get $inRow))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $each)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; dS = P (dP - rowsum(P dP)) in place of dP [t, t], per row over j <= i, 0 above the diagonal
  ;; (the causal softmax's gradient; P from causal_softmax).
  (func (export "causal_softmax_backward") (param $p i32) (param $dp i32) (param $t i32)
    (local $i i32) (local $j i32) (local $off i32) (local $at i32) (local $in v128) (local $inRow v128)
    (local $dot v128) (local $pv v128)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $t)))
        (local.set $off (i32.shl (i32.mul (local.get $i) (local.get $t)) (i32.const 2)))
        (local.set $dot (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $d
          (loop $each
            (br_if $d (i32.gt_u (local.get $j) (local.get $i)))
            (local.set $at (i32.add (local.get $off) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $in (call $laneMask (local.get $j) (i32.add (local.get $i) (i32.const 1))))
            (local.set $dot (f32x4.add (local.get $dot)
              (v128.and (f32x4.mul (v128.load align=4 (i32.add (local.get $p) (local.get $at)))
                (v128.load align=4 (i32.add (local.get $dp) (local.get $at)))) (local.get $in))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $each)))
        (local.set $dot (f32x4.splat (call $lanesSum (local.get $dot))))
        (local.set $j (i32.const 0))
        (block $w
          (loop $each
            (br_if $w (i32.ge_u (local.get $j) (local.get $t)))
            (local.set $at (i32.add (local.get $off) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $in (call $laneMask (local.get $j) (i32.add (local.get $i) (i32.const 1))))
            (local.set $inRow (call $laneMask (local.get $j) (local.get $t)))
            (call $storeMasked (i32.add (local.get $dp) (local.get $at))
              (if (result v128) (i32.le_u (local.get $j) (local.get $i))
                (then
                  (v128.and
                    (f32x4.mul (v128.load align=4 (i32.add (local.get $p) (local.get $at)))
                      (f32x4.sub (v128.load align=4 (i32.add (local.get $dp) (local.get $at))) (local.get $dot)))
                    (local.get $in)))
                (else (v128.const i32x4 0 0 0 0)))
              (local.get $inRow))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $each)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))
)
