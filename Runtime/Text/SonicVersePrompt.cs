using System.Text.RegularExpressions;

namespace SonicVerse.Runtime.Text;

/// <summary>Prompt ids with the audio slots marked. <paramref name="Ids"/> holds <see cref="SonicVersePrompt.SlotId"/>
/// at every position listed in <paramref name="SlotPositions"/> (ascending); those rows take the projector's vectors in
/// order, every other id is a token row of <c>embed_tokens</c>.</summary>
public sealed record PromptIds(int[] Ids, int[] SlotPositions);

/// <summary>SonicVerse's <c>data_tools.encode_chat</c>: the chat template is split into its [INST]…[/INST] span and the
/// rest, the span is split on <c>&lt;sound&gt;</c>, and every text piece is SentencePiece-encoded on its own (so each
/// gets the dummy "▁" prefix, and none gets a BOS); each <c>&lt;sound&gt;</c> becomes a run of slots.</summary>
public static partial class SonicVersePrompt
{
    /// <summary>The audio modality's token in the user text (SonicVerse <c>audio_mert</c>).</summary>
    public const string SoundToken = "<sound>";

    /// <summary>Placeholder id of a slot: SonicVerse's modality <c>token_idx</c>, as the kit's input_ids show it. Never a
    /// valid vocabulary id, so a slot that is not replaced fails loudly at the embedding lookup.</summary>
    public const int SlotId = -9634;

    /// <summary>Slots per <c>&lt;sound&gt;</c>: the projector's 60 output vectors (40 content + 4 × 5 feature tokens).</summary>
    public const int DefaultSlotsPerSound = 60;

    /// <summary>The reference demo's user text.</summary>
    public const string DemoUserText = "Describe the music. " + SoundToken;

    // data_tools.encode_chat: instruct_pattern and the modality-token pattern, both with a capture group so that
    // Regex.Split keeps the delimiters (as Python's re.split does).
    [GeneratedRegex(@"(\[INST\][\s\S]*?\[/INST\])")]
    private static partial Regex InstructionSpan();

    [GeneratedRegex("(" + "<sound>" + ")")]
    private static partial Regex Sound();

    public static PromptIds Encode(MistralTokenizer tokenizer, string user,
        ChatTemplateVariant variant = ChatTemplateVariant.Old, int slotsPerSound = DefaultSlotsPerSound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slotsPerSound);
        var ids = new List<int> { tokenizer.BosId }; // the template's leading "<s>", a special token for HF
        var slots = new List<int>();
        foreach (string part in InstructionSpan().Split(ChatTemplate.Body(user, variant)))
        {
            if (!part.Contains("[INST]"))
            {
                ids.AddRange(tokenizer.Encode(part, addBos: false));
                continue;
            }
            foreach (string piece in Sound().Split(part))
            {
                if (piece == SoundToken)
                {
                    slots.AddRange(Enumerable.Range(ids.Count, slotsPerSound));
                    ids.AddRange(Enumerable.Repeat(SlotId, slotsPerSound));
                }
                else
                {
                    ids.AddRange(tokenizer.Encode(piece, addBos: false));
                }
            }
        }
        return new PromptIds(ids.ToArray(), slots.ToArray());
    }
}
