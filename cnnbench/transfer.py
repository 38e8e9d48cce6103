def transfer_weights(src, dst): raise NotImplementedError
