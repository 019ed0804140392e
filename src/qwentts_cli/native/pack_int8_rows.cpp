// qwentts::pack_int8_rows(q, scale, bias): the int8 rows of one linear as fbgemm's packed weight,
// the object quantized::linear_dynamic runs on: bit for bit what quantized::linear_prepack makes
// of the same per-row quantized tensor, made 2-3x faster.
//
// Why: fbgemm's packer reads the (N, K) weight a column at a time (for each k, every row n). When
// K is a multiple of 1024 bytes, the N rows' bytes of one column fall into a few cache sets, and
// past ~2048 rows they evict each other before their next 63 columns are read: the 0.6B talker's
// fused 4096- and 6144-row matrices pack at ~145 MB/s where 512 rows pack at ~400. Copied to rows
// one cache line longer (a leading dimension of K + 64), the same loop packs the same bytes at
// ~450-500 MB/s. The packed layout does not depend on the source's leading dimension; fbgemm only
// keeps it to unpack, so it is set back to K once packed.
#include <ATen/ATen.h>
#include <ATen/native/quantized/cpu/fbgemm_utils.h>
#include <torch/library.h>

#include <cstring>
#include <memory>
#include <vector>

namespace {

using Packed = fbgemm::PackBMatrix<int8_t, int32_t>;

// PackBMatrix keeps the source and its leading dimension private. An explicit instantiation may
// name private members (access checks do not apply to its names): the standard way to reach the
// two fields, checked by the compiler against the header torch ships.
template <typename Tag, typename Tag::type Member>
struct Reach {
  friend typename Tag::type reach(Tag) { return Member; }
};
struct LeadingDim {
  using type = int32_t Packed::*;
  friend type reach(LeadingDim);
};
struct Source {
  using type = const int8_t* Packed::*;
  friend type reach(Source);
};
template struct Reach<LeadingDim, &Packed::ld_>;
template struct Reach<Source, &Packed::smat_>;

constexpr int64_t kRowPad = 64;  // one cache line

c10::intrusive_ptr<LinearPackedParamsBase> pack_int8_rows(
    const at::Tensor& q, const at::Tensor& scale, const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(q.device().is_cpu() && q.dim() == 2 && q.scalar_type() == at::kChar,
              "pack_int8_rows: q must be a 2-D int8 CPU tensor");
  const int64_t n = q.size(0), k = q.size(1);
  TORCH_CHECK(n > 0 && k > 0, "pack_int8_rows: q must not be empty");
  TORCH_CHECK(scale.device().is_cpu() && scale.dim() == 1 && scale.size(0) == n && scale.scalar_type() == at::kFloat,
              "pack_int8_rows: scale must be float32 with one value per row of q");
  std::optional<at::Tensor> bias_rows;
  if (bias.has_value()) {
    TORCH_CHECK(bias->device().is_cpu() && bias->dim() == 1 && bias->size(0) == n && bias->scalar_type() == at::kFloat,
                "pack_int8_rows: bias must be float32 with one value per row of q");
    bias_rows = bias->contiguous();
  }

  const at::Tensor rows = q.contiguous();
  const int8_t* src = rows.data_ptr<int8_t>();
  const int64_t ld = k + kRowPad;
  std::vector<int8_t> padded(static_cast<size_t>(n * ld));
  // fbgemm's column offsets: the sum of each weight row (all zero points are 0).
  std::vector<int32_t> row_sums(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int8_t* row = src + i * k;
    std::memcpy(padded.data() + i * ld, row, static_cast<size_t>(k));
    int32_t sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += row[j];
    row_sums[i] = sum;
  }
  const at::Tensor scales_contig = scale.contiguous();
  const float* scales_ptr = scales_contig.data_ptr<float>();
  std::vector<float> scales(scales_ptr, scales_ptr + n);

  auto packed = std::make_unique<Packed>(fbgemm::matrix_op_t::Transpose, static_cast<int32_t>(k),
                                         static_cast<int32_t>(n), padded.data(), static_cast<int32_t>(ld),
                                         nullptr, 1);
  (*packed).*reach(LeadingDim()) = static_cast<int32_t>(k);  // unpack() writes rows of K
  (*packed).*reach(Source()) = nullptr;                      // `padded` is freed on return
  return c10::make_intrusive<PackedLinearWeight>(std::move(packed), bias_rows, std::move(row_sums),
                                                 std::move(scales), std::vector<int32_t>(static_cast<size_t>(n), 0),
                                                 c10::kPerChannelAffine);
}

}  // namespace

TORCH_LIBRARY(qwentts, m) {
  m.def("pack_int8_rows(Tensor q, Tensor scale, Tensor? bias) -> __torch__.torch.classes.quantized.LinearPackedParamsBase");
  m.impl("pack_int8_rows", c10::DispatchKey::CompositeExplicitAutograd, TORCH_FN(pack_int8_rows));
}
