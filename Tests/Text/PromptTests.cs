using System.Text.Json;
using SonicVerse.Runtime.Text;
using SonicVerse.Tests.Support;

namespace SonicVerse.Tests.Text;

public class PromptTests
{
    static MistralTokenizer Tok => TextKit.Tokenizer;

    [Fact]
    public void SonicVersePromptsMatchEncodeChat()
    {
        using var doc = ReferenceKit.Json("tokenizer", "sonicverse_prompts.json");
        var prompts = doc.RootElement.GetProperty("prompts").EnumerateArray().ToArray();
        Assert.Equal(4, prompts.Length);
        foreach (var p in prompts)
        {
            string user = p.GetProperty("content").GetString()!;
            var variant = Variant(p);
            int slots = p.GetProperty("placeholder_count").GetInt32();
            int[] expected = TextKit.Ints(p.GetProperty("input_ids"));

            var prompt = SonicVersePrompt.Encode(Tok, user, variant, slots);

            Assert.Equal(expected, prompt.Ids);
            Assert.Equal(p.GetProperty("length").GetInt32(), prompt.Ids.Length);
            Assert.Equal(Enumerable.Range(0, expected.Length).Where(i => expected[i] == SonicVersePrompt.SlotId), prompt.SlotPositions);
            Assert.Equal(p.GetProperty("chat_string").GetString(), ChatTemplate.Render(user, variant));
        }
    }

    [Fact]
    public void DemoPromptIsTheSpecsSeventyFourIds()
    {
        int[] expected = [1, 733, 16289, 28793, 27984, 272, 3427, 28723, 28705,
            .. Enumerable.Repeat(SonicVersePrompt.SlotId, 60), 28705, 733, 28748, 16289, 28793];
        var prompt = SonicVersePrompt.Encode(Tok, SonicVersePrompt.DemoUserText);
        Assert.Equal(expected, prompt.Ids);
        Assert.Equal(Enumerable.Range(9, 60), prompt.SlotPositions);
        // The slot count is a parameter; with no <sound> there are no slots.
        Assert.Equal(74 - 60 + 3, SonicVersePrompt.Encode(Tok, SonicVersePrompt.DemoUserText, slotsPerSound: 3).Ids.Length);
        Assert.Empty(SonicVersePrompt.Encode(Tok, "Describe the music.").SlotPositions);
    }

    [Fact]
    public void OldTemplateMatchesHfTemplateThenTokenize()
    {
        // prompts.json "inst" = [BOS] + sp.encode("[INST] ... [/INST]"): the old template of its user text.
        using var doc = ReferenceKit.Json("mistral-tiny", "ref", "prompts.json");
        var inst = doc.RootElement.GetProperty("prompts").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "inst");
        Assert.Equal(TextKit.Ints(inst.GetProperty("ids")),
            ChatTemplate.Encode(Tok, "Write one sentence about a cello.", ChatTemplateVariant.Old));

        // HF's slow tokenizer on the rendered string "<s>[INST] hi [/INST]" (cases.json) parses <s> as BOS.
        var hf = TextKit.Cases.Single(c => c.Text == "<s>[INST] hi [/INST]").HfIdsNoBos;
        Assert.Equal(hf, ChatTemplate.Encode(Tok, "hi", ChatTemplateVariant.Old));
    }

    [Fact]
    public void NewTemplateEncodesTheSpaceAfterBos()
    {
        // HF on "<s> [INST] ..." = [BOS] + sp.encode(" [INST] ..."), whose start the kit gives as case " [INST]".
        var spaceInst = TextKit.Cases.Single(c => c.Text == " [INST]").IdsNoBos;
        int[] ids = ChatTemplate.Encode(Tok, "hi", ChatTemplateVariant.New);
        Assert.Equal([1, .. spaceInst], ids[..(1 + spaceInst.Length)]);
        Assert.Equal("<s> [INST] hi [/INST]", ChatTemplate.Render("hi", ChatTemplateVariant.New));
    }

    static ChatTemplateVariant Variant(JsonElement p) => p.GetProperty("template").GetString() switch
    {
        "old" => ChatTemplateVariant.Old,
        "new" => ChatTemplateVariant.New,
        var other => throw new InvalidDataException($"unknown template {other}"),
    };
}
