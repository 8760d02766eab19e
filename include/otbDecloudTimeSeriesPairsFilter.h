/*
 * Decloud: per pixel, the first valid S1/S2 pairs of two time series (DecloudTimeSeriesPreProcessor).
 */
#ifndef otbDecloudTimeSeriesPairsFilter_h
#define otbDecloudTimeSeriesPairsFilter_h

#include "itkImageToImageFilter.h"

#include <vector>

namespace otb
{

/**
 * \class DecloudTimeSeriesPairsFilter
 * \brief Given candidate (SAR image, optical image) pairs in order (decloud::CandidatePairs) and a number of
 * slots N, output 2k is the SAR image and output 2k + 1 the optical image of slot k (k = 0 .. N-1). Per pixel and
 * independently, the slots take the first N pairs, in order, whose SAR pixel and optical pixel both have data:
 * a pixel has no data only when every one of its bands equals the nodata value of its series (SAR or optical;
 * NaN equals a NaN nodata value). Slots left without a pair are nodata (each output its series' nodata value,
 * also declared in its metadata). The same image may fill several slots at a pixel (an optical image paired with
 * two SAR images). Values are copied unchanged. Inputs: each image once, however many pairs it is in; same grid;
 * the SAR images have one number of bands, the optical images another.
 */
template <class TImage>
class ITK_EXPORT DecloudTimeSeriesPairsFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudTimeSeriesPairsFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudTimeSeriesPairsFilter, itk::ImageToImageFilter);

  using RegionType = typename TImage::RegionType;

  /** Append a candidate pair; an image already given (the same object) is not added as an input again. */
  void PushBackPair(const TImage* sar, const TImage* opt);

  /** Number of slots N (2 N outputs). */
  void SetNumberOfSlots(unsigned int slots);
  unsigned int GetNumberOfSlots() const { return m_Slots; }
  unsigned int GetNumberOfPairs() const { return static_cast<unsigned int>(m_Pairs.size()); }

  TImage* GetSarOutput(unsigned int slot) { return this->GetOutput(2 * slot); }
  TImage* GetOptOutput(unsigned int slot) { return this->GetOutput(2 * slot + 1); }

  itkSetMacro(SarNodataValue, double);
  itkGetConstMacro(SarNodataValue, double);
  itkSetMacro(OptNodataValue, double);
  itkGetConstMacro(OptNodataValue, double);

protected:
  DecloudTimeSeriesPairsFilter();
  void GenerateOutputInformation() override;
  void ThreadedGenerateData(const RegionType& region, itk::ThreadIdType threadId) override;

private:
  struct Pair
  {
    unsigned int sar; // input index
    unsigned int opt; // input index
  };
  unsigned int InputIndex(const TImage* image, std::vector<unsigned int>& series);

  std::vector<Pair>         m_Pairs;
  std::vector<unsigned int> m_SarInputs, m_OptInputs;
  unsigned int              m_Slots = 0;
  double                    m_SarNodataValue = 0.0;
  double                    m_OptNodataValue = -10000.0;
};

} // namespace otb

#ifndef OTB_MANUAL_INSTANTIATION
#include "otbDecloudTimeSeriesPairsFilter.hxx"
#endif
#endif
