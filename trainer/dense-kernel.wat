;; The dense QLoRA engine's WebAssembly SIMD kernel (design_docs/trainer.md, "The wasm kernel").
;;
;; Built into trainer/dense-kernel-wasm.ts by `npm run build:kernels` (wabt's wat2wasm); a test
;; rebuilds it and checks the committed module is this file's.
;;
;; Fixed-width SIMD (v128) only: no relaxed SIMD, no FMA. Every output element is summed in one
;; fixed order (p = 0, 1, ..., k - 1, each step a float32 multiply then a float32 add, starting
;; from +0), whichever path (32, 4 or 1 columns at a time) computes it: the results are the bits
;; of the plain-JS reference in trainer/dense-kernel.test.ts, on every machine.
;;
;; Memory: exported, grown by the caller; addresses are byte offsets; matrices are row-major
;; float32. Bytes 0..63 hold the 16 NF4 levels as float32, bytes 64..127 the same levels as 4
;; planes of 16 bytes (byte b of level c at 64 + 16 b + c), both written by the caller.
(module
  (memory (export "memory") 1)

  ;; c[0..n) (=|+=) alpha * sum_p l[p] * r[p * n + col]: one output row of a product.
  ;; 32 columns at a time (8 accumulators of 4 lanes, one splat of l[p] per p), then 4, then 1.
  (func $row_times (param $l i32) (param $k i32) (param $r i32) (param $n i32) (param $c i32)
    (param $alpha f32) (param $acc i32)
    (local $stride i32) (local $col i32) (local $end i32) (local $lp i32) (local $lend i32)
    (local $rp i32) (local $w v128) (local $av v128) (local $s f32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $stride (i32.shl (local.get $n) (i32.const 2)))
    (local.set $lend (i32.add (local.get $l) (i32.shl (local.get $k) (i32.const 2))))
    (local.set $av (f32x4.splat (local.get $alpha)))
    ;; 32 columns (128 bytes) at a time
    (local.set $end (i32.and (local.get $stride) (i32.const -128)))
    (block $done32
      (loop $cols32
        (br_if $done32 (i32.ge_u (local.get $col) (local.get $end)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $a4 (v128.const i32x4 0 0 0 0))
        (local.set $a5 (v128.const i32x4 0 0 0 0))
        (local.set $a6 (v128.const i32x4 0 0 0 0))
        (local.set $a7 (v128.const i32x4 0 0 0 0))
        (local.set $lp (local.get $l))
        (local.set $rp (i32.add (local.get $r) (local.get $col)))
        (block $doneK
          (loop $ks
            (br_if $doneK (i32.ge_u (local.get $lp) (local.get $lend)))
            (local.set $w (v128.load32_splat align=4 (local.get $lp)))
            (local.set $a0 (f32x4.add (local.get $a0)
              (f32x4.mul (local.get $w) (v128.load offset=0 align=4 (local.get $rp)))))
            (local.set $a1 (f32x4.add (local.get $a1)
              (f32x4.mul (local.get $w) (v128.load offset=16 align=4 (local.get $rp)))))
            (local.set $a2 (f32x4.add (local.get $a2)
              (f32x4.mul (local.get $w) (v128.load offset=32 align=4 (local.get $rp)))))
            (local.set $a3 (f32x4.add (local.get $a3)
              (f32x4.mul (local.get $w) (v128.load offset=48 align=4 (local.get $rp)))))
            (local.set $a4 (f32x4.add (local.get $a4)
              (f32x4.mul (local.get $w) (v128.load offset=64 align=4 (local.get $rp)))))
            (local.set $a5 (f32x4.add (local.get $a5)
              (f32x4.mul (local.get $w) (v128.load offset=80 align=4 (local.get $rp)))))
            (local.set $a6 (f32x4.add (local.get $a6)
              (f32x4.mul (local.get $w) (v128.load offset=96 align=4 (local.get $rp)))))
            (local.set $a7 (f32x4.add (local.get $a7)
              (f32x4.mul (local.get $w) (v128.load offset=112 align=4 (local.get $rp)))))
            (local.set $rp (i32.add (local.get $rp) (local.get $stride)))
            (local.set $lp (i32.add (local.get $lp) (i32.const 4)))
            (br $ks)))
        (local.set $rp (i32.add (local.get $c) (local.get $col)))
        (call $store4 (local.get $rp) (local.get $a0) (local.get $av) (local.get $acc))
        (call $store4 (i32.add (local.get $rp) (i32.const 16)) (local.get $a1) (local.get $av) (local.get $acc))
        (call $store4 (i32.add (local.get $rp) (i32.const 32)) (local.get $a2) (local.get $av) (local.get $acc))
        (call $store4 (i32.add (local.get $rp) (i32.const 48)) (local.get $a3) (local.get $av) (local.get $acc))
        (call $store4 (i32.add (local.get $rp) (i32.const 64)) (local.get $a4) (local.get $av) (local.get $acc))
        (call $store4 (i32.add (local.get $rp) (i32.const 80)) (local.get $a5) (local.get $av) (local.get $acc))
        (call $store4 (i32.add (local.get $rp) (i32.const 96)) (local.get $a6) (local.get $av) (local.get $acc))
        (call $store4 (i32.add (local.get $rp) (i32.const 112)) (local.get $a7) (local.get $av) (local.get $acc))
        (local.set $col (i32.add (local.get $col) (i32.const 128)))
        (br $cols32)))
    ;; 4 columns (16 bytes) at a time
    (local.set $end (i32.and (local.get $stride) (i32.const -16)))
    (block $done4
      (loop $cols4
        (br_if $done4 (i32.ge_u (local.get $col) (local.get $end)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $lp (local.get $l))
        (local.set $rp (i32.add (local.get $r) (local.get $col)))
        (block $doneK4
          (loop $ks4
            (br_if $doneK4 (i32.ge_u (local.get $lp) (local.get $lend)))
            (local.set $a0 (f32x4.add (local.get $a0)
              (f32x4.mul (v128.load32_splat align=4 (local.get $lp)) (v128.load align=4 (local.get $rp)))))
            (local.set $rp (i32.add (local.get $rp) (local.get $stride)))
            (local.set $lp (i32.add (local.get $lp) (i32.const 4)))
            (br $ks4)))
        (call $store4 (i32.add (local.get $c) (local.get $col)) (local.get $a0) (local.get $av) (local.get $acc))
        (local.set $col (i32.add (local.get $col) (i32.const 16)))
        (br $cols4)))
    ;; 1 column (4 bytes) at a time
    (block $done1
      (loop $cols1
        (br_if $done1 (i32.ge_u (local.get $col) (local.get $stride)))
        (local.set $s (f32.const 0))
        (local.set $lp (local.get $l))
        (local.set $rp (i32.add (local.get $r) (local.get $col)))
        (block $doneK1
          (loop $ks1
            (br_if $doneK1 (i32.ge_u (local.get $lp) (local.get $lend)))
            (local.set $s (f32.add (local.get $s)
              (f32.mul (f32.load (local.get $lp)) (f32.load (local.get $rp)))))
            (local.set $rp (i32.add (local.get $rp) (local.get $stride)))
            (local.set $lp (i32.add (local.get $lp) (i32.const 4)))
            (br $ks1)))
        (local.set $rp (i32.add (local.get $c) (local.get $col)))
        (local.set $s (f32.mul (local.get $alpha) (local.get $s)))
        (if (local.get $acc)
          (then (local.set $s (f32.add (f32.load (local.get $rp)) (local.get $s)))))
        (f32.store (local.get $rp) (local.get $s))
        (local.set $col (i32.add (local.get $col) (i32.const 4)))
        (br $cols1))))

  ;; *p (=|+=) alpha * v, 4 lanes.
  (func $store4 (param $p i32) (param $v v128) (param $av v128) (param $acc i32)
    (local.set $v (f32x4.mul (local.get $av) (local.get $v)))
    (if (local.get $acc)
      (then (local.set $v (f32x4.add (v128.load align=4 (local.get $p)) (local.get $v)))))
    (v128.store align=4 (local.get $p) (local.get $v)))

  ;; C[m, n] (=|+=) alpha * L[m, k] R[k, n].
  (func (export "rows_times") (param $l i32) (param $m i32) (param $k i32) (param $r i32) (param $n i32)
    (param $c i32) (param $alpha f32) (param $acc i32)
    (local $i i32)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $m)))
        (call $row_times
          (i32.add (local.get $l) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 2)))
          (local.get $k) (local.get $r) (local.get $n)
          (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2)))
          (local.get $alpha) (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; C[k, n] (=|+=) alpha * L^T R, L [m, k], R [m, n]; each column of L gathered into buf (m floats).
  (func (export "cols_times") (param $l i32) (param $m i32) (param $k i32) (param $r i32) (param $n i32)
    (param $c i32) (param $alpha f32) (param $acc i32) (param $buf i32)
    (local $j i32) (local $i i32) (local $src i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    (block $done
      (loop $cols
        (br_if $done (i32.ge_u (local.get $j) (local.get $k)))
        (local.set $src (i32.add (local.get $l) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $gathered
          (loop $gather
            (br_if $gathered (i32.ge_u (local.get $i) (local.get $m)))
            (f32.store (i32.add (local.get $buf) (i32.shl (local.get $i) (i32.const 2)))
              (f32.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (local.get $rowBytes)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $gather)))
        (call $row_times (local.get $buf) (local.get $m) (local.get $r) (local.get $n)
          (i32.add (local.get $c) (i32.shl (i32.mul (local.get $j) (local.get $n)) (i32.const 2)))
          (local.get $alpha) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cols))))

  ;; The weight of flat index i of an NF4 tensor: level[code i] * scales[i / 64].
  (func $nf4_at (param $codes i32) (param $scales i32) (param $i i32) (result f32)
    (local $byte i32)
    (local.set $byte (i32.load8_u (i32.add (local.get $codes) (i32.shr_u (local.get $i) (i32.const 1)))))
    (f32.mul
      (f32.load (i32.shl
        (i32.and (i32.shr_u (local.get $byte) (i32.shl (i32.and (local.get $i) (i32.const 1)) (i32.const 2)))
          (i32.const 15))
        (i32.const 2)))
      (f32.load (i32.add (local.get $scales) (i32.shl (i32.shr_u (local.get $i) (i32.const 6)) (i32.const 2))))))

  ;; out[0..count) = the NF4 weights of flat indices start..start+count: one at a time up to a
  ;; multiple of 16, then 16 at a time in SIMD (see $nf4_16), then one at a time.
  (func $nf4_decode (export "nf4_decode") (param $codes i32) (param $scales i32) (param $start i32)
    (param $count i32) (param $out i32)
    (local $i i32) (local $end i32)
    (local.set $i (local.get $start))
    (local.set $end (i32.add (local.get $start) (local.get $count)))
    (block $aligned
      (loop $head
        (br_if $aligned (i32.ge_u (local.get $i) (local.get $end)))
        (br_if $aligned (i32.eqz (i32.and (local.get $i) (i32.const 15))))
        (f32.store (local.get $out) (call $nf4_at (local.get $codes) (local.get $scales) (local.get $i)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $head)))
    (block $done16
      (loop $by16
        (br_if $done16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
        (call $nf4_16 (local.get $codes) (local.get $scales) (local.get $i) (local.get $out))
        (local.set $out (i32.add (local.get $out) (i32.const 64)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $by16)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (f32.store (local.get $out) (call $nf4_at (local.get $codes) (local.get $scales) (local.get $i)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; The 16 weights of flat indices i..i+15 (i a multiple of 16: one block of 64 holds them) into
  ;; out: their 8 code bytes split into 16 codes (low nibble first), each byte of the 16 levels
  ;; looked up by i8x16.swizzle in its plane (bytes 64..127: byte b of level c at 64 + 16 b + c),
  ;; the 4 bytes of each weight interleaved back into float32 lanes, times the block's scale.
  (func $nf4_16 (param $codes i32) (param $scales i32) (param $i i32) (param $out i32)
    (local $bytes v128) (local $c v128) (local $s v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $lo01 v128) (local $hi01 v128) (local $lo23 v128) (local $hi23 v128)
    (local.set $bytes (v128.load64_zero align=1 (i32.add (local.get $codes) (i32.shr_u (local.get $i) (i32.const 1)))))
    (local.set $c (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
      (v128.and (local.get $bytes) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
      (i8x16.shr_u (local.get $bytes) (i32.const 4))))
    (local.set $b0 (i8x16.swizzle (v128.load (i32.const 64)) (local.get $c)))
    (local.set $b1 (i8x16.swizzle (v128.load (i32.const 80)) (local.get $c)))
    (local.set $b2 (i8x16.swizzle (v128.load (i32.const 96)) (local.get $c)))
    (local.set $b3 (i8x16.swizzle (v128.load (i32.const 112)) (local.get $c)))
    (local.set $lo01 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b0) (local.get $b1)))
    (local.set $hi01 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b0) (local.get $b1)))
    (local.set $lo23 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b2) (local.get $b3)))
    (local.set $hi23 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b2) (local.get $b3)))
    (local.set $s (v128.load32_splat
      (i32.add (local.get $scales) (i32.shl (i32.shr_u (local.get $i) (i32.const 6)) (i32.const 2)))))
    (v128.store offset=0 align=4 (local.get $out) (f32x4.mul (local.get $s)
      (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $lo01) (local.get $lo23))))
    (v128.store offset=16 align=4 (local.get $out) (f32x4.mul (local.get $s)
      (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $lo01) (local.get $lo23))))
    (v128.store offset=32 align=4 (local.get $out) (f32x4.mul (local.get $s)
      (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $hi01) (local.get $hi23))))
    (v128.store offset=48 align=4 (local.get $out) (f32x4.mul (local.get $s)
      (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $hi01) (local.get $hi23)))))

  ;; The per-block scales of an NF4 tensor into out: float32(offset + scaleScales[b / 256] * code_b / 127),
  ;; the arithmetic of nf4BlockScale (trainer/nf4.ts) in float64, bit for bit.
  (func (export "nf4_scales") (param $scaleCodes i32) (param $scaleScales i32) (param $offset f64)
    (param $blocks i32) (param $out i32)
    (local $b i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $b) (local.get $blocks)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $b) (i32.const 2)))
          (f32.demote_f64 (f64.add (local.get $offset)
            (f64.div
              (f64.mul
                (f64.promote_f32 (f32.load (i32.add (local.get $scaleScales)
                  (i32.shl (i32.shr_u (local.get $b) (i32.const 8)) (i32.const 2)))))
                (f64.convert_i32_s (i32.load8_s (i32.add (local.get $scaleCodes) (local.get $b)))))
              (f64.const 127)))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $each))))

  ;; C[rows, n] (=|+=) alpha * W R, W an NF4 [rows, cols], R [cols, n]: each row of W decoded
  ;; into buf (cols floats) just before its products, never the whole layer.
  (func (export "nf4_rows_times") (param $codes i32) (param $scales i32) (param $rows i32) (param $cols i32)
    (param $r i32) (param $n i32) (param $c i32) (param $alpha f32) (param $acc i32) (param $buf i32)
    (local $j i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $rows)))
        (call $nf4_decode (local.get $codes) (local.get $scales) (i32.mul (local.get $j) (local.get $cols))
          (local.get $cols) (local.get $buf))
        (call $row_times (local.get $buf) (local.get $cols) (local.get $r) (local.get $n)
          (i32.add (local.get $c) (i32.shl (i32.mul (local.get $j) (local.get $n)) (i32.const 2)))
          (local.get $alpha) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $each))))

  ;; C[cols, n] (=|+=) alpha * W^T R, W an NF4 [rows, cols], R [rows, n]: each column of W
  ;; decoded into buf (rows floats) just before its products.
  (func (export "nf4_cols_times") (param $codes i32) (param $scales i32) (param $rows i32) (param $cols i32)
    (param $r i32) (param $n i32) (param $c i32) (param $alpha f32) (param $acc i32) (param $buf i32)
    (local $k i32) (local $j i32) (local $i i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $k) (local.get $cols)))
        (local.set $j (i32.const 0))
        (local.set $i (local.get $k))
        (block $decoded
          (loop $decode
            (br_if $decoded (i32.ge_u (local.get $j) (local.get $rows)))
            (f32.store (i32.add (local.get $buf) (i32.shl (local.get $j) (i32.const 2)))
              (call $nf4_at (local.get $codes) (local.get $scales) (local.get $i)))
            (local.set $i (i32.add (local.get $i) (local.get $cols)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $decode)))
        (call $row_times (local.get $buf) (local.get $rows) (local.get $r) (local.get $n)
          (i32.add (local.get $c) (i32.shl (i32.mul (local.get $k) (local.get $n)) (i32.const 2)))
          (local.get $alpha) (local.get $acc))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each))))

  ;; t[j * rows + i] = a[i * cols + j]: A [rows, cols] transposed into T [cols, rows].
  (func (export "transpose") (param $a i32) (param $rows i32) (param $cols i32) (param $t i32)
    (local $i i32) (local $j i32) (local $src i32) (local $dst i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $src (local.get $a))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $dst (i32.add (local.get $t) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $j (i32.const 0))
        (block $rowDone
          (loop $row
            (br_if $rowDone (i32.ge_u (local.get $j) (local.get $cols)))
            (f32.store (local.get $dst) (f32.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $row)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  ;; t[p * rows + i] = table[a[i * cols + p]]: bytes A [rows, cols] mapped through a table of 256
  ;; floats and transposed into T [cols, rows] (a batch of images straight into the first layer).
  (func (export "bytes_transposed") (param $a i32) (param $rows i32) (param $cols i32) (param $table i32)
    (param $t i32)
    (local $i i32) (local $j i32) (local $src i32) (local $dst i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $src (local.get $a))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $dst (i32.add (local.get $t) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $j (i32.const 0))
        (block $rowDone
          (loop $row
            (br_if $rowDone (i32.ge_u (local.get $j) (local.get $cols)))
            (f32.store (local.get $dst)
              (f32.load (i32.add (local.get $table) (i32.shl (i32.load8_u (local.get $src)) (i32.const 2)))))
            (local.set $src (i32.add (local.get $src) (i32.const 1)))
            (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $row)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  ;; Z[rows, n] += bias (one per row); with relu, A = (Z > 0 ? Z : 0) (pmax: NaN and -0 give 0).
  (func (export "bias_relu") (param $z i32) (param $rows i32) (param $n i32) (param $bias i32) (param $a i32)
    (param $relu i32)
    (local $j i32) (local $p i32) (local $q i32) (local $end i32) (local $vend i32) (local $b f32) (local $bv v128)
    (local $v v128) (local $s f32)
    (local.set $p (local.get $z))
    (local.set $q (local.get $a))
    (block $done
      (loop $rowsLoop
        (br_if $done (i32.ge_u (local.get $j) (local.get $rows)))
        (local.set $b (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $bv (f32x4.splat (local.get $b)))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $vend (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
        (block $vdone
          (loop $vec
            (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
            (local.set $v (f32x4.add (v128.load align=4 (local.get $p)) (local.get $bv)))
            (v128.store align=4 (local.get $p) (local.get $v))
            (if (local.get $relu)
              (then (v128.store align=4 (local.get $q) (f32x4.pmax (v128.const i32x4 0 0 0 0) (local.get $v)))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $vec)))
        (block $sdone
          (loop $scalar
            (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $s (f32.add (f32.load (local.get $p)) (local.get $b)))
            (f32.store (local.get $p) (local.get $s))
            (if (local.get $relu)
              (then (f32.store (local.get $q)
                (select (local.get $s) (f32.const 0) (f32.gt (local.get $s) (f32.const 0))))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $scalar)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $rowsLoop))))

  ;; d[i] = z[i] > 0 ? d[i] : 0 for i < count: the gradient through a ReLU.
  (func (export "relu_mask") (param $d i32) (param $z i32) (param $count i32)
    (local $end i32) (local $vend i32)
    (local.set $end (i32.add (local.get $d) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $vend (i32.add (local.get $d) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $vec
        (br_if $vdone (i32.ge_u (local.get $d) (local.get $vend)))
        (v128.store align=4 (local.get $d)
          (v128.and (v128.load align=4 (local.get $d))
            (f32x4.gt (v128.load align=4 (local.get $z)) (v128.const i32x4 0 0 0 0))))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $z (i32.add (local.get $z) (i32.const 16)))
        (br $vec)))
    (block $sdone
      (loop $scalar
        (br_if $sdone (i32.ge_u (local.get $d) (local.get $end)))
        (if (i32.eqz (f32.gt (f32.load (local.get $z)) (f32.const 0)))
          (then (f32.store (local.get $d) (f32.const 0))))
        (local.set $d (i32.add (local.get $d) (i32.const 4)))
        (local.set $z (i32.add (local.get $z) (i32.const 4)))
        (br $scalar))))
)
