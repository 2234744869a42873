"""Signal-processing pieces shared by the feature engine and the inversion: FFTW frame
transforms (:mod:`genrelab.dsp.fft`) and the filter banks and windows (:mod:`genrelab.dsp.filters`)."""
