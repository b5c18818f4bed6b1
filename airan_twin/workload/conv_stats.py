"""Summary statistics of the Azure LLM inference trace 2023, conv (19,366 requests, 3,502 s).

Computed once from AzureLLMInferenceTrace_conv.csv (CC-BY 4.0, Microsoft AzurePublicDataset;
Patel et al., Splitwise, ISCA 2024) by the snippet in docs/calibration.md. Only these numbers are
shipped, not the trace. The synthetic generator samples tokens by inverse CDF from the quantile
tables (percentiles 0, 1, ..., 99, then an upper end set so that the top bin's mean equals the
trace's top-1 % mean rather than its maximum) and follows the per-minute arrival profile.
"""

# fmt: off

CONTEXT_TOKENS_PERCENTILES = (
    2, 29, 91, 161, 181, 181, 191, 197, 201, 203, 207, 212,
    222, 242, 317, 372, 375, 378, 381, 384, 387, 390, 392, 394,
    395, 396, 398, 399, 400, 402, 403, 405, 406, 408, 411, 414,
    419, 424, 433, 456, 703, 863, 903, 946, 972, 984, 994, 1002,
    1009, 1014, 1020, 1025, 1031, 1036, 1041, 1045, 1050, 1055, 1060, 1065,
    1071, 1076, 1081, 1086, 1092, 1097, 1102, 1109, 1116, 1122, 1130, 1139,
    1147, 1159, 1171, 1189, 1214, 1249, 1311, 1314, 1315, 1321, 1368, 1508,
    1689, 1876, 2032, 2221, 2401, 2584, 2734, 3291, 4073, 4076, 4079, 4083,
    4086, 4090, 4098, 4142, 5893,
)

GENERATED_TOKENS_PERCENTILES = (
    7, 16, 24, 32, 38, 41, 44, 47, 49, 52, 54, 57,
    59, 62, 64, 67, 69, 71, 73, 75, 77, 79, 81, 82,
    84, 85, 86, 87, 89, 90, 91, 92, 93, 94, 95, 96,
    97, 99, 100, 101, 103, 105, 107, 108, 110, 113, 116, 118,
    122, 125, 129, 133, 137, 141, 145, 151, 156, 161, 163, 169,
    177, 182, 190, 202, 216, 217, 237, 371, 375, 378, 384, 387,
    390, 393, 394, 395, 396, 396, 397, 398, 400, 402, 404, 407,
    410, 411, 414, 415, 417, 420, 424, 428, 429, 433, 442, 451,
    468, 509, 540, 601, 817,
)

#: Requests per full minute, minutes 0..57 (the drift 190 -> 507 req/min and back).
ARRIVALS_PER_MINUTE = (
    191, 265, 329, 353, 307, 273, 268, 261, 322, 298, 301, 302,
    345, 326, 283, 279, 280, 308, 343, 351, 351, 343, 408, 396,
    386, 398, 432, 480, 476, 453, 448, 507, 438, 413, 423, 418,
    465, 311, 329, 316, 333, 355, 319, 360, 334, 375, 330, 249,
    221, 249, 265, 280, 256, 254, 242, 260, 246, 225,
)

# fmt: on

MEAN_RATE_PER_S = 5.5304
CONTEXT_TOKENS_MEAN = 1154.7
GENERATED_TOKENS_MEAN = 211.1
PER_SECOND_CV = 0.501
