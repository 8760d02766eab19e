/*
 * Decloud: composites of a period, per pixel: the median of the clear observations, or the best available pixel.
 */
#ifndef otbDecloudCompositeFilter_h
#define otbDecloudCompositeFilter_h

#include "itkImageToImageFilter.h"

#include <vector>

namespace otb
{
namespace decloud
{

/** The composite modes of DecloudCompositeFilter. */
enum class CompositeMode
{
  Median,       ///< per pixel and band, the median of the clear valid observations
  BestAvailable ///< per pixel, the clear valid observation of the first image in the preference order
};

/**
 * Preference order of the best-available-pixel composite: image indices sorted by cloud share (lowest first),
 * ties by |date - reference| (nearest first), then by input order. `shares` and `dates` have one value per image.
 */
inline std::vector<unsigned int> BestAvailableOrder(const std::vector<double>& shares, const std::vector<double>& dates,
                                             double reference);

/**
 * Cloud share of an image, in percent: the pixels with data (no band nodata or NaN) whose mask (first band) is
 * nonzero, over the pixels with data, on the largest possible region of `image` (the mask must cover it). 100
 * when no pixel has data. Streamed: the region is read in stripes of at most `maxPixels` pixels.
 */
template <class TImage>
double CloudShare(TImage* image, TImage* mask, double nodata, size_t maxPixels = 1 << 20);

} // namespace decloud

/**
 * \class DecloudCompositeFilter
 * \brief Composite of images of a period, per pixel. An observation (image k at a pixel) is valid when it has data
 * (no band equals nodata or is NaN) and its cloud mask, when given, is 0 there (first band; nonzero = cloudy).
 *  - Median: per band, the median of the valid observations; with an even count, the mean of the two middle
 *    values (as numpy's median). Computed in double precision; with rounding (S2 int16 encoding) floor(v + 0.5).
 *  - BestAvailable: the valid observation of the first image in the preference order (SetOrder; default: input
 *    order), copied.
 * Nodata (all bands) where no observation is valid. Images and masks: same grid.
 */
template <class TImage>
class ITK_EXPORT DecloudCompositeFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudCompositeFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudCompositeFilter, itk::ImageToImageFilter);

  using RegionType = typename TImage::RegionType;

  /** Add an image and its cloud mask (nullptr: no mask, every pixel with data is clear). */
  void PushBackImage(const TImage* image, const TImage* cloudMask);

  /** Preference order of BestAvailable: a permutation of the image indices (0 = first pushed). */
  void SetOrder(const std::vector<unsigned int>& order);
  const std::vector<unsigned int>& GetOrder() const { return m_Order; }

  void SetMode(decloud::CompositeMode mode)
  {
    if (m_Mode != mode)
    {
      m_Mode = mode;
      this->Modified();
    }
  }
  decloud::CompositeMode GetMode() const { return m_Mode; }
  itkSetMacro(NodataValue, double);
  itkGetConstMacro(NodataValue, double);
  itkSetMacro(Round, bool);
  itkGetConstMacro(Round, bool);

protected:
  DecloudCompositeFilter() = default;
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  struct Entry
  {
    unsigned int image;
    int          mask; // input index, -1 without mask
  };
  std::vector<Entry>        m_Images; // input order
  std::vector<unsigned int> m_Order;  // BestAvailable preference (indices into m_Images); empty: input order
  decloud::CompositeMode    m_Mode = decloud::CompositeMode::Median;
  double                    m_NodataValue = -10000.0;
  bool                      m_Round = true;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudCompositeFilter.hxx"
#endif
#endif
