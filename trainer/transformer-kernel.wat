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
;; Fixed-width SIMD only (no relaxed SIMD, no FMA). Every output element is summed in one fixed
;; order (p = 0, 1, ..., k - 1, each step a float32 multiply then a float32 add, from +0), then
;; scaled by alpha and, with acc, added to C's element: the bits of the plain-JS reference in
;; trainer/transformer-kernel.test.ts, on every machine, whatever the panel (full or partial).
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

  ;; The p range [from, to) that rows i .. i + rows - 1 of L need to sum (tri as in gemm).
  (func $kRange (param $tri i32) (param $i i32) (param $rows i32) (param $k i32) (result i32 i32)
    (local $to i32)
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
  ;;   3: L is upper-triangular (L[i, p] = 0 for p < i): row i sums p = i .. k - 1 (a pair from i).
  ;; Skipped terms are products with an L of +0 or -0 (finite R): adding them changes no bit (the
  ;; sums start at +0 and never become -0), so 2 and 3 give the bits of 0 on such an L.
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
            (call $kRange (local.get $tri) (local.get $i) (i32.const 2) (local.get $k))
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
            (call $kRange (local.get $tri) (local.get $i) (i32.const 1) (local.get $k))
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
)
