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
;; is cut into panels of 32 columns, each copied once into a contiguous scratch ([k, 32], 16-64
;; KB: L1/L2) and multiplied by every row of L.
;;
;; Fixed-width SIMD only (no relaxed SIMD, no FMA). Every output element is summed in one fixed
;; order (p = 0, 1, ..., k - 1, each step a float32 multiply then a float32 add, from +0), then
;; scaled by alpha and, with acc, added to C's element: the bits of the plain-JS reference in
;; trainer/transformer-kernel.test.ts, on every machine, whatever the panel (full or partial).
(module
  (import "env" "memory" (memory 1))

  ;; panel[p * 32 + j] = r[p * n + col + j] for p < k, j < width (<= 32), 0 for width <= j < 32.
  (func $pack (param $r i32) (param $k i32) (param $n i32) (param $col i32) (param $width i32)
    (param $panel i32)
    (local $p i32) (local $src i32) (local $dst i32) (local $j i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $n) (i32.const 2)))
    (local.set $src (i32.add (local.get $r) (i32.shl (local.get $col) (i32.const 2))))
    (local.set $dst (local.get $panel))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (if (i32.eq (local.get $width) (i32.const 32))
          (then
            (v128.store offset=0 align=4 (local.get $dst) (v128.load offset=0 align=4 (local.get $src)))
            (v128.store offset=16 align=4 (local.get $dst) (v128.load offset=16 align=4 (local.get $src)))
            (v128.store offset=32 align=4 (local.get $dst) (v128.load offset=32 align=4 (local.get $src)))
            (v128.store offset=48 align=4 (local.get $dst) (v128.load offset=48 align=4 (local.get $src)))
            (v128.store offset=64 align=4 (local.get $dst) (v128.load offset=64 align=4 (local.get $src)))
            (v128.store offset=80 align=4 (local.get $dst) (v128.load offset=80 align=4 (local.get $src)))
            (v128.store offset=96 align=4 (local.get $dst) (v128.load offset=96 align=4 (local.get $src)))
            (v128.store offset=112 align=4 (local.get $dst) (v128.load offset=112 align=4 (local.get $src))))
          (else
            (local.set $j (i32.const 0))
            (block $filled
              (loop $each
                (br_if $filled (i32.ge_u (local.get $j) (i32.const 32)))
                (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2)))
                  (if (result f32) (i32.lt_u (local.get $j) (local.get $width))
                    (then (f32.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2)))))
                    (else (f32.const 0))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $each)))))
        (local.set $src (i32.add (local.get $src) (local.get $stride)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 128)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $rows))))

  ;; C[m, n] (=|+=) alpha * L[m, k] R[k, n], all row-major. panel: 32 k floats + 32 floats of
  ;; scratch (the partial panel's results before their scalar store).
  (func (export "gemm") (param $l i32) (param $m i32) (param $k i32) (param $r i32) (param $n i32)
    (param $c i32) (param $alpha f32) (param $acc i32) (param $panel i32)
    (local $col i32) (local $width i32) (local $i i32) (local $lp i32) (local $lend i32) (local $pp i32)
    (local $out i32) (local $tmp i32) (local $j i32) (local $s f32) (local $rowBytes i32)
    (local $w v128) (local $av v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $av (f32x4.splat (local.get $alpha)))
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    (local.set $tmp (i32.add (local.get $panel) (i32.shl (local.get $k) (i32.const 7))))
    (block $doneCols
      (loop $cols
        (br_if $doneCols (i32.ge_u (local.get $col) (local.get $n)))
        (local.set $width (i32.sub (local.get $n) (local.get $col)))
        (if (i32.gt_u (local.get $width) (i32.const 32)) (then (local.set $width (i32.const 32))))
        (call $pack (local.get $r) (local.get $k) (local.get $n) (local.get $col) (local.get $width)
          (local.get $panel))
        (local.set $i (i32.const 0))
        (local.set $lp (local.get $l))
        (block $doneRows
          (loop $rows
            (br_if $doneRows (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $a4 (v128.const i32x4 0 0 0 0))
            (local.set $a5 (v128.const i32x4 0 0 0 0))
            (local.set $a6 (v128.const i32x4 0 0 0 0))
            (local.set $a7 (v128.const i32x4 0 0 0 0))
            (local.set $lend (i32.add (local.get $lp) (local.get $rowBytes)))
            (local.set $pp (local.get $panel))
            (block $doneK
              (loop $ks
                (br_if $doneK (i32.ge_u (local.get $lp) (local.get $lend)))
                (local.set $w (v128.load32_splat align=4 (local.get $lp)))
                (local.set $a0 (f32x4.add (local.get $a0)
                  (f32x4.mul (local.get $w) (v128.load offset=0 (local.get $pp)))))
                (local.set $a1 (f32x4.add (local.get $a1)
                  (f32x4.mul (local.get $w) (v128.load offset=16 (local.get $pp)))))
                (local.set $a2 (f32x4.add (local.get $a2)
                  (f32x4.mul (local.get $w) (v128.load offset=32 (local.get $pp)))))
                (local.set $a3 (f32x4.add (local.get $a3)
                  (f32x4.mul (local.get $w) (v128.load offset=48 (local.get $pp)))))
                (local.set $a4 (f32x4.add (local.get $a4)
                  (f32x4.mul (local.get $w) (v128.load offset=64 (local.get $pp)))))
                (local.set $a5 (f32x4.add (local.get $a5)
                  (f32x4.mul (local.get $w) (v128.load offset=80 (local.get $pp)))))
                (local.set $a6 (f32x4.add (local.get $a6)
                  (f32x4.mul (local.get $w) (v128.load offset=96 (local.get $pp)))))
                (local.set $a7 (f32x4.add (local.get $a7)
                  (f32x4.mul (local.get $w) (v128.load offset=112 (local.get $pp)))))
                (local.set $pp (i32.add (local.get $pp) (i32.const 128)))
                (local.set $lp (i32.add (local.get $lp) (i32.const 4)))
                (br $ks)))
            (local.set $out (i32.add (local.get $c)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $col)) (i32.const 2))))
            (if (i32.eq (local.get $width) (i32.const 32))
              (then
                (if (local.get $acc)
                  (then
                    (v128.store offset=0 align=4 (local.get $out) (f32x4.add (v128.load offset=0 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a0))))
                    (v128.store offset=16 align=4 (local.get $out) (f32x4.add (v128.load offset=16 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a1))))
                    (v128.store offset=32 align=4 (local.get $out) (f32x4.add (v128.load offset=32 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a2))))
                    (v128.store offset=48 align=4 (local.get $out) (f32x4.add (v128.load offset=48 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a3))))
                    (v128.store offset=64 align=4 (local.get $out) (f32x4.add (v128.load offset=64 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a4))))
                    (v128.store offset=80 align=4 (local.get $out) (f32x4.add (v128.load offset=80 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a5))))
                    (v128.store offset=96 align=4 (local.get $out) (f32x4.add (v128.load offset=96 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a6))))
                    (v128.store offset=112 align=4 (local.get $out) (f32x4.add (v128.load offset=112 align=4 (local.get $out))
                      (f32x4.mul (local.get $av) (local.get $a7)))))
                  (else
                    (v128.store offset=0 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a0)))
                    (v128.store offset=16 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a1)))
                    (v128.store offset=32 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a2)))
                    (v128.store offset=48 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a3)))
                    (v128.store offset=64 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a4)))
                    (v128.store offset=80 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a5)))
                    (v128.store offset=96 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a6)))
                    (v128.store offset=112 align=4 (local.get $out) (f32x4.mul (local.get $av) (local.get $a7))))))
              (else
                (v128.store offset=0 (local.get $tmp) (local.get $a0))
                (v128.store offset=16 (local.get $tmp) (local.get $a1))
                (v128.store offset=32 (local.get $tmp) (local.get $a2))
                (v128.store offset=48 (local.get $tmp) (local.get $a3))
                (v128.store offset=64 (local.get $tmp) (local.get $a4))
                (v128.store offset=80 (local.get $tmp) (local.get $a5))
                (v128.store offset=96 (local.get $tmp) (local.get $a6))
                (v128.store offset=112 (local.get $tmp) (local.get $a7))
                (local.set $j (i32.const 0))
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
                    (br $each)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $rows)))
        (local.set $col (i32.add (local.get $col) (i32.const 32)))
        (br $cols))))
)
